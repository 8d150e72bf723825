"""Imports every domain's models so the metadata (and Alembic) sees all tables."""

from homecare.accounts import models as accounts  # noqa: F401
from homecare.alerts import models as alerts  # noqa: F401
from homecare.audit import models as audit  # noqa: F401
from homecare.catalogue import models as catalogue  # noqa: F401
from homecare.dispatch import models as dispatch  # noqa: F401
from homecare.duty import models as duty  # noqa: F401
from homecare.family_beds import models as family_beds  # noqa: F401
from homecare.notifications import models as notifications  # noqa: F401
from homecare.nurses import models as nurses  # noqa: F401
from homecare.ops import models as ops  # noqa: F401
from homecare.orders import models as orders  # noqa: F401
from homecare.patients import models as patients  # noqa: F401
from homecare.pricing import models as pricing  # noqa: F401
from homecare.scheduling import models as scheduling  # noqa: F401
from homecare.visits import models as visits  # noqa: F401
