"""Every central model module, imported so that ``Base.metadata`` knows all tables.

Add your module with ONE line below (Alembic and ``create_all`` rely on it).
"""

from central.models import audit as audit
from central.models import registry as registry
from central.models import users as users
