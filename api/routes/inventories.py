"""Monthly inventories (Scope 1/2, biogenic, intensity, coverage) and the leaderboard."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from api.deps import db, gwp, month_of, operation_id, page_info, tz, user
from api.problems import COMMON_RESPONSES
from api.routes.measurements import month_range
from api.schemas import (
    FactoryPath,
    InventoriesQuery,
    InventoryList,
    Leaderboard,
    LeaderboardQuery,
    MonthRangeQuery,
    SuccessMetrics,
)
from core.access import allowed_factory_ids
from core.insights.api_queries import visible_factory_id
from core.insights.queries import cached_monthly_inventory, hq_overview, leaderboard
from core.inventory.factors import load_factor_set
from core.inventory.monthly import MonthlyInventory, Totals

bp = APIBlueprint("inventories", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="inventories")],
                  abp_security=[{"bearer": []}], abp_responses=COMMON_RESPONSES,
                  operation_id_callback=operation_id)


def inventory_dict(i: MonthlyInventory) -> dict:
    """Shape one MonthlyInventory for the API (the same numbers the reports use)."""
    return {
        "factory_id": i.factory_id, "factory_code": i.factory_code, "factory_name": i.factory_name,
        "month": f"{i.month:%Y-%m}", "submission_status": i.submission_status,
        "scope1_kg": i.scope1_kg, "scope2_kg": i.scope2_kg, "total_kg": i.total_kg,
        "biogenic_co2_kg": i.biogenic_co2_kg, "fossil_co2_kg": i.combustion.fossil_co2_kg,
        "grid_kwh": i.grid_kwh, "own_renewable_kwh": i.own_renewable_kwh,
        "green_leaf_kg": i.green_leaf_kg, "made_tea_kg": i.made_tea_kg,
        "intensity_kg_per_kg": i.intensity_kg_per_kg, "target_kg_co2e_per_kg": i.target_kg_co2e_per_kg,
        "target_met": i.target_met, "measured_co2_kg": i.measured_co2_kg, "coverage": i.coverage,
        "submitted_at": i.submitted_at.isoformat() if i.submitted_at else None,
        "due_at": i.due_at.isoformat() if i.due_at else None,
    }


@bp.get("/inventories", summary="Every visible factory's inventory for one local month (paged)",
        responses={200: InventoryList})
def list_inventories(query: InventoriesQuery):  # noqa: ANN201
    """Scope 1, Scope 2, biogenic CO2, intensity and coverage per factory for `month`, ordered by factory code."""
    month = month_of(query.month)
    with db() as s:
        ids = allowed_factory_ids(s, user())
        inv = cached_monthly_inventory(s, [month], load_factor_set(s), ids, gwp=gwp(), tz=tz()) if ids else []
        start = (query.page - 1) * query.page_size
        items = [inventory_dict(i) for i in inv[start:start + query.page_size]]
    return {"items": items, "paging": page_info(query.page, query.page_size, len(inv))}


@bp.get("/factories/<int:factory_id>/inventories", summary="One factory's monthly inventories over a range of months",
        responses={200: InventoryList})
def factory_inventories(path: FactoryPath, query: MonthRangeQuery):  # noqa: ANN201
    """One inventory per local month from `first` to `last` (at most 36), oldest first."""
    months = month_range(query.first, query.last)
    with db() as s:
        visible_factory_id(s, user(), path.factory_id)
        inv = cached_monthly_inventory(s, months, load_factor_set(s), [path.factory_id], gwp=gwp(), tz=tz())
        items = [inventory_dict(i) for i in inv]
    return {"items": items, "paging": page_info(1, max(1, len(items)), len(items))}


@bp.get("/leaderboard", summary="Factories ranked by intensity, emissions or change",
        responses={200: Leaderboard})
def get_leaderboard(query: LeaderboardQuery):  # noqa: ANN201
    """All visible factories ranked (lower is better); factories without data come last."""
    with db() as s:
        rows = leaderboard(s, user(), load_factor_set(s), period=query.period, region=query.region,
                           metric=query.metric, tz=tz(), gwp=gwp())
        items = [{k: getattr(r, k) for k in ("rank", "factory_id", "code", "name", "region", "total_kg",
                                              "made_tea_kg", "intensity", "target", "target_met", "prior_total_kg",
                                              "change_pct", "months_reported", "months", "months_compared")}
                 for r in rows]
    return {"period": query.period, "metric": query.metric, "items": items}


def _totals(t: Totals) -> dict:
    return {"scope1_kg": t.scope1_kg, "scope2_kg": t.scope2_kg, "total_kg": t.total_kg,
            "biogenic_co2_kg": t.biogenic_co2_kg, "made_tea_kg": t.made_tea_kg,
            "intensity_kg_per_kg": t.intensity_kg_per_kg, "measured_co2_kg": t.measured_co2_kg, "factory_months": t.n}


@bp.get("/success-metrics", summary="Network success metrics: totals, on-time submissions, targets met, sensor uptime",
        responses={200: SuccessMetrics})
def success_metrics():  # noqa: ANN201
    """The HQ overview's figures over the factories the token may see (a factory manager: their own)."""
    with db() as s:
        o = hq_overview(s, user(), load_factor_set(s), tz=tz(), gwp=gwp())
    return {"today": o.today.isoformat(), "n_factories": o.n_factories, "month_to_date": _totals(o.mtd),
            "year_to_date": _totals(o.ytd), "last_month": f"{o.last_month:%Y-%m}",
            "submitted_on_time_share": o.submitted_on_time_share, "target_met_share": o.target_met_share,
            "uptime_ok_share": o.uptime_ok_share, "nodes_online": o.nodes_online, "nodes_total": o.nodes_total}
