"""A synthetic utility from a seed: grid, customers, loads, meters, faults, theft and payers.

>>> from meter2cash.simulator import UtilitySpec, build_utility
>>> utility = build_utility(UtilitySpec(accounts=300, days=7))
>>> collection = utility.collect_day(utility.spec.start)
"""

from meter2cash.simulator.utility import (
    DayCollection,
    GroundTruth,
    SimulatedUtility,
    UtilitySpec,
    build_utility,
)

__all__ = ["DayCollection", "GroundTruth", "SimulatedUtility", "UtilitySpec", "build_utility"]
