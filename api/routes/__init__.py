"""The API's operations, one module per resource group; ALL_BLUEPRINTS is what api.app registers."""

from api.routes.entries import bp as entries_bp
from api.routes.factories import bp as factories_bp
from api.routes.inventories import bp as inventories_bp
from api.routes.measurements import bp as measurements_bp
from api.routes.records import bp as records_bp
from api.routes.tokens import bp as tokens_bp

ALL_BLUEPRINTS = (factories_bp, measurements_bp, inventories_bp, entries_bp, records_bp, tokens_bp)
