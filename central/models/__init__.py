"""Every central model module, imported so that ``Base.metadata`` knows all tables.

Add your module with ONE line below (Alembic and ``create_all`` rely on it).
"""

from central.models import alerts as alerts
from central.models import audit as audit
from central.models import biometrics as biometrics
from central.models import camera_history as camera_history
from central.models import doors as doors
from central.models import events as events
from central.models import registry as registry
from central.models import retention as retention
from central.models import snapshots as snapshots
from central.models import users as users
from central.models import vehicles as vehicles
from central.models import visitors as visitors
from central.models import zones as zones
from central.reconciliation import models as reconciliation  # noqa: F401
