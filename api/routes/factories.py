"""Factories with their stacks, sensor nodes and targets."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from api.deps import db, operation_id, page_info, user
from api.problems import COMMON_RESPONSES
from api.schemas import FactoryList, FactoryOut, FactoryPath, PageQuery
from core.insights.api_queries import visible_factories, visible_factory

bp = APIBlueprint("factories", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="factories")],
                  abp_security=[{"bearer": []}], abp_responses=COMMON_RESPONSES,
                  operation_id_callback=operation_id)


@bp.get("/factories", summary="List the factories the token may see", responses={200: FactoryList})
def list_factories(query: PageQuery):  # noqa: ANN201
    """Factories ordered by code, each with stacks, sensor nodes and target intensity.

    A factory manager's token lists only their own factory; HQ, admin and auditor tokens all 67.
    """
    with db() as s:
        rows, total = visible_factories(s, user(), query.page, query.page_size)
        items = [FactoryOut.model_validate(f).model_dump(mode="json") for f in rows]
    return {"items": items, "paging": page_info(query.page, query.page_size, total)}


@bp.get("/factories/<int:factory_id>", summary="One factory with stacks, nodes and target",
        responses={200: FactoryOut})
def get_factory(path: FactoryPath):  # noqa: ANN201
    """One factory; 404 if it does not exist or the token's user may not see it."""
    with db() as s:
        return FactoryOut.model_validate(visible_factory(s, user(), path.factory_id)).model_dump(mode="json")
