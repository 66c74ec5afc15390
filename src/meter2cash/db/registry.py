"""Imports every domain's models so metadata (and Alembic) sees all tables."""

from meter2cash.assets import models as assets_models
from meter2cash.billing import models as billing_models
from meter2cash.collections import models as collections_models
from meter2cash.db import audit
from meter2cash.db.base import Base
from meter2cash.headend import models as headend_models
from meter2cash.holidays import models as holidays_models
from meter2cash.ledger import models as ledger_models
from meter2cash.operations import models as operations_models
from meter2cash.tariffs import models as tariffs_models
from meter2cash.vee import models as vee_models
from meter2cash.weather import models as weather_models

__all__ = [
    "Base",
    "assets_models",
    "audit",
    "billing_models",
    "collections_models",
    "headend_models",
    "holidays_models",
    "ledger_models",
    "operations_models",
    "tariffs_models",
    "vee_models",
    "weather_models",
]
