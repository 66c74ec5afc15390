"""Net metering: export energy (A−, 反向有功) set against import (A+).

Two options (:class:`~meter2cash.tariffs.schema.NetMetering`): ``net`` bills the import less
the export through the energy components, an excess optionally carried to the next period as
a kWh credit; ``buy_sell`` (余电上网) bills import as usual and credits export at a sell
price. Pure functions over :class:`~decimal.Decimal`; a credit carried in is a rating input
and the credit carried out a rating output, so rating stays pure.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

ZERO: Final = Decimal(0)


def net_energy(
    import_kwh: Decimal, export_kwh: Decimal, credit_kwh: Decimal = ZERO
) -> tuple[Decimal, Decimal]:
    """``(billed, excess)`` [kWh]: import less export less a credit carried in, never negative,
    and the export left over when it exceeds the import.

    >>> net_energy(Decimal(300), Decimal(120), Decimal(50))
    (Decimal('130'), Decimal('0'))
    >>> net_energy(Decimal(100), Decimal(160))
    (Decimal('0'), Decimal('60'))
    """
    net = import_kwh - export_kwh - credit_kwh
    return max(net, ZERO), max(-net, ZERO)


def export_credit(export_kwh: Decimal, sell_price: Decimal) -> Decimal:
    """Credit [yuan, unrounded, ≤ 0] for ``export_kwh`` [kWh] sold at ``sell_price`` [yuan/kWh].

    Example, 余电上网 at the coal benchmark price 0.4153 yuan/kWh: 250 kWh → −103.825 yuan.
    """
    return -(export_kwh * sell_price)
