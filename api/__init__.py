"""REST API under /api/v1 with OpenAPI docs (issue 15): a flask-openapi3 app on the portal's server.

`api.app` builds and mounts it; `api.routes` holds one module per resource group; `api.schemas`
the typed request and response models; `api.problems` the RFC 9457 errors. Views are thin:
validate input (pydantic) -> call core with the token's user -> shape the answer. Authorization
lives in core (core.access), never only here. May import core; never dash, pages, callbacks,
mqtt_listener or carbontrack.
"""

from api.app import create_api, mount_api, spec_json

__all__ = ["create_api", "mount_api", "spec_json"]
