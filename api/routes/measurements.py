"""Stack readings (JSON pages or CSV) and measured CO2 per hour, local day and local month."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import flask
from flask_openapi3 import APIBlueprint, Tag

from api.deps import db, gwp, month_of, operation_id, page_info, tz, user
from api.problems import COMMON_RESPONSES, ApiProblem
from api.schemas import (
    DailyList,
    DailyOut,
    DailyQuery,
    FactoryPath,
    HourlyList,
    HourlyOut,
    HourlyQuery,
    MeasuredMonthList,
    MeasuredMonthOut,
    MonthRangeQuery,
    ReadingList,
    ReadingsQuery,
)
from core.insights.api_queries import factory_device, hourly_emissions, readings_page
from core.insights.queries import daily_history, monthly_history
from core.inventory.factors import load_factor_set
from core.timeutil import iter_months

bp = APIBlueprint("measurements", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="measurements")],
                  abp_security=[{"bearer": []}], abp_responses=COMMON_RESPONSES,
                  operation_id_callback=operation_id)

MAX_READINGS_SPAN = timedelta(days=31)
MAX_DAYS = 366
MAX_MONTHS = 36
CSV_COLUMNS = ("ts", "device_id", "seq", "co2_ppm", "flue_temp_c", "velocity_m_s", "pressure_pa", "co2_kg_s",
               "quality", "quality_reason")


def _utc_text(ts) -> str:  # noqa: ANN001
    return ts.isoformat().replace("+00:00", "Z")


def _check_span(start, end, limit: timedelta, what: str) -> None:  # noqa: ANN001
    if end <= start:
        raise ApiProblem(422, f"`end` must be after `start` ({what}).")
    if end - start > limit:
        raise ApiProblem(422, f"At most {limit.days} days of {what} per request; page through longer spans.")


@bp.get("/factories/<int:factory_id>/readings", summary="A factory's stack readings in a time range (paged)",
        responses={200: ReadingList})
def list_readings(path: FactoryPath, query: ReadingsQuery):  # noqa: ANN201
    """Readings with `start` <= ts < `end`, oldest first, valid and invalid (see `quality`).

    At most 31 days per request and 5000 readings per page. Units: ppm, °C, m/s, Pa, kg/s.
    """
    _check_span(query.start, query.end, MAX_READINGS_SPAN, "readings")
    with db() as s:
        if query.device_id is not None:
            factory_device(s, user(), path.factory_id, query.device_id)
        result = readings_page(s, user(), path.factory_id, query.start, query.end, query.device_id,
                               query.page, query.page_size)
        # Plain dicts in ReadingOut's shape: validating thousands of rows through pydantic doubled
        # the time of a day's page (bench/bench_api.py); the fuzz test checks them against the spec.
        items = [{**r._asdict(), "ts": _utc_text(r.ts)} for r in result.rows]
    return {"items": items, "paging": page_info(query.page, query.page_size, result.total)}


@bp.get("/factories/<int:factory_id>/readings.csv", summary="The same readings as CSV (one page)",
        responses={200: {"description": "CSV with a header row; times in UTC ISO 8601 (Z); units in the column names",
                         "content": {"text/csv": {"schema": {"type": "string"},
                                                  "example": "ts,device_id,seq,co2_ppm,flue_temp_c,velocity_m_s,"
                                                             "pressure_pa,co2_kg_s,quality,quality_reason\n"
                                                             "2026-11-28T06:00:05Z,KGW-S1,1042,84500.0,186.4,"
                                                             "7.9,79650.0,0.25,0,\n"}}}})
def readings_csv(path: FactoryPath, query: ReadingsQuery):  # noqa: ANN201
    """Readings as CSV with the same parameters and limits as the JSON list; `X-Total-Count` gives all pages' count."""
    _check_span(query.start, query.end, MAX_READINGS_SPAN, "readings")
    with db() as s:
        if query.device_id is not None:
            factory_device(s, user(), path.factory_id, query.device_id)
        result = readings_page(s, user(), path.factory_id, query.start, query.end, query.device_id,
                               query.page, query.page_size)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for r in result.rows:
            w.writerow([_utc_text(r.ts), r.device_id, r.seq, r.co2_ppm, r.flue_temp_c, r.velocity_m_s,
                        r.pressure_pa, r.co2_kg_s, r.quality, r.quality_reason or ""])
    resp = flask.Response(buf.getvalue(), mimetype="text/csv")
    resp.headers["X-Total-Count"] = str(result.total)
    resp.headers["Content-Disposition"] = f'attachment; filename="readings-{path.factory_id}-p{query.page}.csv"'
    return resp


@bp.get("/factories/<int:factory_id>/emissions/hourly", summary="Measured stack CO2 per hour",
        responses={200: HourlyList})
def hourly_measured(path: FactoryPath, query: HourlyQuery):  # noqa: ANN201
    """One row per hour with data (hours without readings are absent), all the factory's nodes together."""
    _check_span(query.start, query.end, MAX_READINGS_SPAN, "hours")
    with db() as s:
        rows = hourly_emissions(s, user(), path.factory_id, query.start, query.end)
        return {"items": [HourlyOut.model_validate(r).model_dump(mode="json") for r in rows]}


@bp.get("/factories/<int:factory_id>/emissions/daily", summary="Measured stack CO2 per local day",
        responses={200: DailyList})
def daily_measured(path: FactoryPath, query: DailyQuery):  # noqa: ANN201
    """One row per local day (EAT) in [first, last]; a day without data has `co2_kg` null (a gap, not zero)."""
    if query.last < query.first:
        raise ApiProblem(422, "`last` must not be before `first`.")
    if (query.last - query.first).days > MAX_DAYS:
        raise ApiProblem(422, f"At most {MAX_DAYS} days per request.")
    with db() as s:
        from core.insights.api_queries import visible_factory_id

        visible_factory_id(s, user(), path.factory_id)
        points = daily_history(s, user(), path.factory_id, query.first, query.last, tz=tz())
        return {"items": [DailyOut(day=p.day, co2_kg=p.co2_kg, coverage=p.coverage, n_valid=p.n_valid)
                          .model_dump(mode="json") for p in points]}


def month_range(first: str, last: str) -> list:
    """Return the months from `first` to `last` (YYYY-MM), refusing reversed or over-long ranges."""
    a, b = month_of(first), month_of(last)
    if b < a:
        raise ApiProblem(422, "`last` must not be before `first`.")
    months = list(iter_months(a, b))
    if len(months) > MAX_MONTHS:
        raise ApiProblem(422, f"At most {MAX_MONTHS} months per request.")
    return months


@bp.get("/factories/<int:factory_id>/emissions/monthly", summary="Measured stack CO2 per local month, with the fuel-log comparison",
        responses={200: MeasuredMonthList})
def monthly_measured(path: FactoryPath, query: MonthRangeQuery):  # noqa: ANN201
    """Measured CO2, coverage and the reconciliation with the energy log, per local month."""
    months = month_range(query.first, query.last)
    with db() as s:
        from core.insights.api_queries import visible_factory_id

        visible_factory_id(s, user(), path.factory_id)
        inv = monthly_history(s, user(), path.factory_id, months, load_factor_set(s), tz=tz(), gwp=gwp())
        return {"items": [MeasuredMonthOut(
            month=f"{i.month:%Y-%m}", measured_co2_kg=i.measured_co2_kg, coverage=i.coverage,
            measured_co2_full_month_kg=i.measured_co2_full_month_kg, calculated_co2_kg=i.calculated_co2_kg,
            reconciliation_pct=i.reconciliation_pct).model_dump(mode="json") for i in inv]}
