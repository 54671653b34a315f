"""Typed request and response models of the API (pydantic), with units, ranges and examples.

Input rules that hold for every model (fix the class, not the example): numbers are finite (no
NaN/Infinity), integers and dates stay inside what the database stores, text has no NUL or
unencodable characters, and unknown body fields are refused (a typo never silently does nothing).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

# --- shared field types ---------------------------------------------------------------------

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
MONTH_PATTERN = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"
ID_MAX = 2_147_483_647  # PostgreSQL integer


def _text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode") from exc
    return value


def _in_range(value: datetime) -> datetime:
    if not (datetime(2000, 1, 1, tzinfo=UTC) <= value <= datetime(2099, 12, 31, tzinfo=UTC)):
        raise ValueError("time must be between 2000-01-01 and 2099-12-31")
    return value.astimezone(UTC)


Text = Annotated[str, AfterValidator(_text)]
Month = Annotated[str, Field(pattern=MONTH_PATTERN, json_schema_extra={"example": "2026-10"},
                             description="A local month (Africa/Nairobi), YYYY-MM")]
Day = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY, json_schema_extra={"example": "2026-11-01"},
                            description="A local day (Africa/Nairobi), YYYY-MM-DD")]
Time = Annotated[AwareDatetime, AfterValidator(_in_range),
                 Field(json_schema_extra={"example": "2026-11-28T09:00:00+03:00"}, description="ISO 8601 time with an offset")]
FactoryId = Annotated[int, Field(ge=1, le=ID_MAX, description="Factory id", json_schema_extra={"example": 1})]
Page = Annotated[int, Field(ge=1, le=1_000_000, description="Page number, from 1")]


class StrictModel(BaseModel):
    """Request models: unknown fields and non-finite numbers are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class BodyModel(StrictModel):
    """JSON bodies: no type coercion (false is not 0, "12" is not 12); query strings are coerced, bodies are not."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class OutModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageInfo(BaseModel):
    page: int = Field(description="This page, from 1", json_schema_extra={"example": 1})
    page_size: int = Field(description="Items per page asked for", json_schema_extra={"example": 100})
    total: int = Field(description="Items in all pages", json_schema_extra={"example": 67})


# --- path and query parameters --------------------------------------------------------------


class FactoryPath(StrictModel):
    factory_id: FactoryId


class FactoryMonthPath(StrictModel):
    factory_id: FactoryId
    month: Month


class IdPath(StrictModel):
    id: int = Field(ge=1, le=ID_MAX, description="Id", json_schema_extra={"example": 1})


class PageQuery(StrictModel):
    page: Page = 1
    page_size: int = Field(100, ge=1, le=500, description="Items per page (1–500)")


class ReadingsQuery(StrictModel):
    start: Time = Field(description="From this time (inclusive), ISO 8601 with offset",
                        json_schema_extra={"example": "2026-11-28T00:00:00+03:00"})
    end: Time = Field(description="To this time (exclusive); at most 31 days after `start`",
                      json_schema_extra={"example": "2026-11-29T00:00:00+03:00"})
    device_id: Text | None = Field(None, max_length=40, description="Only this sensor node", json_schema_extra={"example": "KGW-S1"})
    page: Page = 1
    page_size: int = Field(1000, ge=1, le=5000, description="Readings per page (1–5000)")


class HourlyQuery(StrictModel):
    start: Time = Field(description="From this hour (inclusive)", json_schema_extra={"example": "2026-11-27T00:00:00+03:00"})
    end: Time = Field(description="To this time (exclusive); at most 31 days after `start`",
                      json_schema_extra={"example": "2026-11-28T00:00:00+03:00"})


class DailyQuery(StrictModel):
    first: Day = Field(description="First local day (inclusive)", json_schema_extra={"example": "2026-11-01"})
    last: Day = Field(description="Last local day (inclusive); at most 366 days after `first`",
                      json_schema_extra={"example": "2026-11-27"})


class MonthRangeQuery(StrictModel):
    first: Month = Field(description="First local month YYYY-MM (inclusive)", json_schema_extra={"example": "2026-01"})
    last: Month = Field(description="Last local month YYYY-MM (inclusive); at most 36 months after `first`",
                        json_schema_extra={"example": "2026-10"})


class InventoriesQuery(StrictModel):
    month: Month = Field(description="The local month YYYY-MM", json_schema_extra={"example": "2026-10"})
    page: Page = 1
    page_size: int = Field(100, ge=1, le=500, description="Factories per page (1–500)")


class LeaderboardQuery(StrictModel):
    period: Literal["last_month", "ytd", "last_12"] = Field(
        "last_month", description="last_month, ytd (year to date) or last_12 (last 12 complete months)")
    metric: Literal["intensity", "emissions", "change"] = Field(
        "intensity", description="Rank by intensity (kg CO2e/kg made tea), emissions (kg CO2e) or change vs a year earlier (%)")
    region: int | None = Field(None, ge=1, le=99, description="Only this KTDA region", json_schema_extra={"example": 1})


class NodesQuery(StrictModel):
    factory_id: FactoryId | None = Field(None, description="Only this factory's nodes")


class ReportsQuery(StrictModel):
    month: Month | None = Field(None, description="Only reports for this local month YYYY-MM")
    page: Page = 1
    page_size: int = Field(100, ge=1, le=500, description="Reports per page (1–500)")


class AuditQuery(StrictModel):
    factory_id: FactoryId | None = Field(None, description="Only rows about this factory")
    action: Text | None = Field(None, max_length=40, description="Only this action (create, update, submit, approve, …)",
                                json_schema_extra={"example": "approve"})
    limit: int = Field(100, ge=1, le=5000, description="Newest rows to return (1–5000)")


# --- factories ------------------------------------------------------------------------------


class StackOut(OutModel):
    id: int
    name: str = Field(examples=["Boiler 1"])
    diameter_m: float = Field(description="Inner diameter at the measuring port, m", examples=[1.2])
    moisture_fraction: float = Field(description="Flue-gas water vapour, volume fraction 0–1")
    dry_basis: bool = Field(description="The analyser reads CO2 on a dry basis")
    velocity_profile_factor: float = Field(description="Mean / centre-line velocity")


class DeviceOut(OutModel):
    id: str = Field(description="Device id used in MQTT topics", examples=["KGW-S1"])
    stack_id: int
    sample_interval_s: float = Field(description="Seconds of stack flow each valid reading stands for", examples=[60.0])
    firmware: str | None = Field(examples=["1.0.0"])
    status: str = Field(description="online, offline or unknown (the node's MQTT status)")
    last_seen_at: datetime | None = Field(description="Last message from the node, UTC")
    last_reading_at: datetime | None = Field(description="Newest reading time, UTC")
    rssi_dbm: int | None = Field(description="Wi-Fi signal, dBm")
    active: bool


class FactoryOut(OutModel):
    id: int = Field(examples=[1])
    code: str = Field(examples=["KGW"])
    name: str = Field(examples=["Kagwe"])
    region: int = Field(description="KTDA region number", examples=[1])
    county: str = Field(examples=["Kiambu"])
    latitude: float = Field(description="Degrees north", examples=[-0.99])
    longitude: float = Field(description="Degrees east", examples=[36.64])
    altitude_m: float = Field(description="Metres above sea level", examples=[2150])
    target_kg_co2e_per_kg: float | None = Field(description="Target intensity: kg CO2e (Scope 1 + 2) per kg made tea")
    firewood_density_kg_m3: float | None = Field(description="Stacked firewood density for m³ entries, kg/m³")
    active: bool
    stacks: list[StackOut]
    devices: list[DeviceOut]


class FactoryList(BaseModel):
    items: list[FactoryOut]
    paging: PageInfo


# --- measurements ---------------------------------------------------------------------------


class ReadingOut(OutModel):
    id: int
    device_id: str = Field(examples=["KGW-S1"])
    ts: datetime = Field(description="Measurement time, UTC")
    seq: int | None = Field(description="The node's message counter")
    co2_ppm: float = Field(description="CO2 concentration, ppm by volume")
    flue_temp_c: float = Field(description="Flue-gas temperature, °C")
    velocity_m_s: float = Field(description="Gas velocity, m/s")
    pressure_pa: float | None = Field(description="Stack absolute pressure as sent by the node, Pa")
    co2_kg_s: float | None = Field(description="CO2 mass flow computed from the reading, kg/s")
    quality: int = Field(description="0 valid; 1 outside physical ranges (stored, excluded from totals)")
    quality_reason: str | None


class ReadingList(BaseModel):
    items: list[ReadingOut]
    paging: PageInfo


class HourlyOut(OutModel):
    hour: datetime = Field(description="Start of the hour, UTC")
    co2_kg: float = Field(description="Measured stack CO2 in the hour (valid readings × interval), kg")
    covered_s: float = Field(description="Sensor-seconds covered by valid readings, s")
    n_readings: int = Field(description="Readings stored (valid or not)")
    n_valid: int = Field(description="Valid readings")
    max_co2_kg_s: float | None = Field(description="Highest mass flow, kg/s")


class DailyOut(BaseModel):
    day: date = Field(description="Local day (EAT)")
    co2_kg: float | None = Field(description="Measured stack CO2 that day, kg; null = no data (a gap, not zero)")
    coverage: float | None = Field(description="Share of the day's sensor-seconds with valid data, 0–1")
    n_valid: int = Field(description="Valid readings")


class HourlyList(BaseModel):
    items: list[HourlyOut] = Field(description="Hours with data, oldest first")


class DailyList(BaseModel):
    items: list[DailyOut] = Field(description="One row per local day, gaps as null")


class MeasuredMonthOut(BaseModel):
    month: str = Field(description="Local month YYYY-MM", examples=["2026-10"])
    measured_co2_kg: float = Field(description="Measured stack CO2 (fossil + biogenic) in the covered time, kg")
    coverage: float | None = Field(description="Share of the month's sensor-seconds with valid data, 0–1")
    measured_co2_full_month_kg: float | None = Field(description="Measured CO2 scaled to the whole month by coverage, kg")
    calculated_co2_kg: float = Field(description="Combustion CO2 from the energy log (fossil + biogenic), kg")
    reconciliation_pct: float | None = Field(description="(measured, scaled − calculated) / calculated × 100, %")


class MeasuredMonthList(BaseModel):
    items: list[MeasuredMonthOut] = Field(description="One row per local month")


# --- inventories ----------------------------------------------------------------------------


class InventoryOut(BaseModel):
    factory_id: int
    factory_code: str = Field(examples=["KGW"])
    factory_name: str = Field(examples=["Kagwe"])
    month: str = Field(description="Local month YYYY-MM", examples=["2026-10"])
    submission_status: str = Field(description="missing, draft, submitted or approved")
    scope1_kg: float = Field(description="Scope 1: fossil CO2 + CH4 + N2O (biomass CH4/N2O included), kg CO2e")
    scope2_kg: float = Field(description="Scope 2: grid electricity, kg CO2")
    total_kg: float = Field(description="Scope 1 + Scope 2, kg CO2e (biogenic CO2 excluded)")
    biogenic_co2_kg: float = Field(description="Biogenic CO2 from biomass fuels, kg (reported separately)")
    fossil_co2_kg: float = Field(description="Fossil CO2, kg")
    grid_kwh: float = Field(description="Grid electricity, kWh")
    own_renewable_kwh: float = Field(description="Own hydro and solar electricity, kWh")
    green_leaf_kg: float | None = Field(description="Green leaf received, kg")
    made_tea_kg: float | None = Field(description="Made tea produced, kg")
    intensity_kg_per_kg: float | None = Field(description="kg CO2e (Scope 1 + 2) per kg made tea")
    target_kg_co2e_per_kg: float | None = Field(description="The factory's target intensity, kg CO2e/kg")
    target_met: bool | None = Field(description="Reported intensity at or below target; null for drafts and gaps")
    measured_co2_kg: float = Field(description="Measured stack CO2 in the covered time, kg")
    coverage: float | None = Field(description="Share of sensor-seconds with valid data, 0–1")
    submitted_at: datetime | None = Field(description="When the month was submitted, UTC")
    due_at: datetime | None = Field(description="When the month's data is due, UTC")


class InventoryList(BaseModel):
    items: list[InventoryOut]
    paging: PageInfo


class LeaderRowOut(BaseModel):
    rank: int = Field(description="1 = best (lowest) on the metric; factories without data last")
    factory_id: int
    code: str
    name: str
    region: int
    total_kg: float | None = Field(description="Scope 1 + 2 over the period, kg CO2e")
    made_tea_kg: float | None = Field(description="Made tea over the period, kg")
    intensity: float | None = Field(description="kg CO2e per kg made tea")
    target: float | None = Field(description="Target intensity, kg CO2e/kg")
    target_met: bool | None
    prior_total_kg: float | None = Field(description="Same months a year earlier (months with data in both), kg CO2e")
    change_pct: float | None = Field(description="Change vs a year earlier over the compared months, %")
    months_reported: int = Field(description="Months with energy data in the period")
    months: int = Field(description="Months in the period")
    months_compared: int = Field(description="Months with data both now and a year earlier")


class Leaderboard(BaseModel):
    period: str
    metric: str
    items: list[LeaderRowOut]


class TotalsOut(BaseModel):
    scope1_kg: float = Field(description="Scope 1, kg CO2e (reported months: submitted or approved)")
    scope2_kg: float = Field(description="Scope 2, kg CO2")
    total_kg: float = Field(description="Scope 1 + 2, kg CO2e")
    biogenic_co2_kg: float = Field(description="Biogenic CO2, kg (reported separately)")
    made_tea_kg: float = Field(description="Made tea, kg")
    intensity_kg_per_kg: float | None = Field(description="Σ kg CO2e ÷ Σ kg made tea")
    measured_co2_kg: float = Field(description="Measured stack CO2, kg")
    factory_months: int = Field(description="Reported factory-months summed")


class SuccessMetrics(BaseModel):
    today: date = Field(description="Local day the figures were computed for")
    n_factories: int = Field(description="Factories the token may see")
    month_to_date: TotalsOut
    year_to_date: TotalsOut
    last_month: str = Field(description="The last complete local month, YYYY-MM")
    submitted_on_time_share: float | None = Field(description="Share of factories whose last month was submitted by the due date, 0–1")
    target_met_share: float | None = Field(description="Share of factories with a reported last month at or below target, 0–1")
    uptime_ok_share: float | None = Field(description="Share of factories whose sensors covered at least the uptime threshold over 30 days, 0–1")
    nodes_online: int = Field(description="Sensor nodes heard from within their offline timeout")
    nodes_total: int = Field(description="Active sensor nodes")


# --- fleet, reference, reports, audit, tokens --------------------------------------------------


class NodeOut(BaseModel):
    device_id: str = Field(examples=["KGW-S1"])
    factory_id: int
    factory_code: str
    stack_name: str
    status: str = Field(description="The node's last MQTT status: online, offline, unknown")
    online: bool = Field(description="Heard from within its offline timeout")
    last_seen_at: datetime | None = Field(description="UTC")
    rssi_dbm: int | None = Field(description="Wi-Fi signal, dBm")
    firmware: str | None
    buffered: int | None = Field(description="Readings waiting in the node's offline buffer")
    coverage_24h: float | None = Field(description="Share of the last 24 h with valid readings, 0–1")
    coverage_30d: float | None = Field(description="Share of the last 30 local days with valid readings, 0–1")


class NodeList(BaseModel):
    items: list[NodeOut]


class FactorOut(OutModel):
    id: int
    code: str = Field(examples=["diesel"])
    version: int = Field(description="Versions are never edited; a change is a new version")
    kind: str = Field(description="fuel or electricity")
    label: str
    ncv_mj_per_kg: float | None = Field(description="Net calorific value, MJ/kg")
    co2_kg_per_tj: float | None = Field(description="kg CO2 per TJ (net)")
    ch4_kg_per_tj: float | None = Field(description="kg CH4 per TJ")
    n2o_kg_per_tj: float | None = Field(description="kg N2O per TJ")
    biomass_fraction: float = Field(description="Share of CO2 that is biogenic, 0–1")
    density_kg_per_l: float | None = Field(description="kg per litre (liquid fuels)")
    kg_co2_per_kwh: float | None = Field(description="Grid factor, kg CO2/kWh")
    source: str
    table_ref: str
    year: int
    citation: str
    is_default: bool
    created_at: datetime
    created_by: str | None


class FactorList(BaseModel):
    items: list[FactorOut]


class ReportOut(BaseModel):
    id: int
    kind: str = Field(description="factory (one factory's workbook) or network (all factories)")
    factory_id: int | None
    scope_key: str = Field(description="Factory code or NETWORK", examples=["KGW"])
    month: str = Field(description="Local month YYYY-MM")
    version: int
    status: str = Field(description="pending, running, done or failed")
    sha256: str | None = Field(description="SHA-256 of the file, hex")
    gwp_set: str | None
    factor_versions: dict[str, int] | None = Field(description="Emission-factor code → version used")
    created_at: datetime
    generated_at: datetime | None
    download: str | None = Field(description="Path to download the workbook (when done)")


class ReportList(BaseModel):
    items: list[ReportOut]
    paging: PageInfo


class AuditOut(OutModel):
    id: int
    at: datetime = Field(description="UTC")
    user_id: int | None
    username: str | None
    action: str
    entity: str
    entity_id: str | None
    factory_id: int | None
    field: str | None
    old_value: str | None
    new_value: str | None
    detail: str | None


class AuditList(BaseModel):
    items: list[AuditOut]


class TokenOut(OutModel):
    id: int
    name: str = Field(examples=["ERP sync"])
    prefix: str = Field(description="The token's first characters, to recognise it", examples=["ct_AbCdEfG"])
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Last accepted use (to the minute), UTC")
    last_used_ip: str | None
    revoked_at: datetime | None


class TokenList(BaseModel):
    items: list[TokenOut]


class TokenCreate(BodyModel):
    name: Text = Field(min_length=1, max_length=80, description="What the token is for", examples=["ERP sync"])
    expires_days: int | None = Field(90, ge=1, le=3650, description="Days until it expires; null = never")


class TokenCreated(TokenOut):
    token: str = Field(description="The token; shown only in this answer, store it now")


class Me(BaseModel):
    id: int
    username: str
    role: str = Field(description="factory_manager, hq, admin or auditor")
    factory_id: int | None = Field(description="A factory manager's factory")


# --- energy entries -----------------------------------------------------------------------------

SourceName = Literal["firewood", "briquettes", "charcoal", "diesel", "furnace_oil", "lpg",
                     "grid_electricity", "own_hydro", "own_solar"]
UnitName = Literal["m3", "kg", "t", "L", "kWh", "MWh"]


class SourceIn(BodyModel):
    source: SourceName = Field(description="Energy source")
    quantity: float = Field(ge=0, le=1e9, description="Quantity in `unit`; 0 removes the source from the month",
                            examples=[2000.0])
    unit: UnitName = Field(description="firewood m3/kg/t; briquettes, charcoal kg/t; diesel, furnace_oil L/m3/kg/t; "
                                       "lpg kg/t/L; electricity kWh/MWh", examples=["L"])
    moisture_pct: float | None = Field(None, ge=0, le=100, description="Firewood only: moisture as received, % wet basis")
    density_kg_m3: float | None = Field(None, ge=0, le=10000,
                                        description="Firewood in m3 only: stacked density, kg/m³ (default: the factory's)")


class EntryIn(BodyModel):
    """The whole month: sources not listed are not used this month (PUT replaces the draft)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True, json_schema_extra={"examples": [{
        "sources": [{"source": "firewood", "quantity": 1400, "unit": "m3", "moisture_pct": 30},
                    {"source": "diesel", "quantity": 2000, "unit": "L"},
                    {"source": "grid_electricity", "quantity": 120000, "unit": "kWh"}],
        "green_leaf_kg": 1000000, "made_tea_kg": 220000, "note": "October"}]})

    sources: list[SourceIn] = Field(default_factory=list, max_length=9, description="One line per source, each at most once")
    green_leaf_kg: float | None = Field(None, ge=0, le=1e9, description="Green leaf received, kg")
    made_tea_kg: float | None = Field(None, ge=0, le=1e9, description="Made tea produced, kg")
    note: Text | None = Field(None, max_length=2000, description="A note for HQ")
    version: int | None = Field(None, ge=0, le=2**31 - 1, description=(
        "The month's `version` you read (0: nothing was saved yet). A month changed since is refused "
        "(409) instead of overwritten; the `If-Match` header does the same"))


class ReasonIn(BodyModel):
    reason: Text = Field(min_length=5, max_length=1000, description="Why the month goes back to the factory",
                         examples=["Diesel looks like litres typed as m3; please check."])
    version: int | None = Field(None, ge=0, le=2**31 - 1, description=(
        "The month's `version` you read: a month changed since is refused (409); `If-Match` does the same"))


class SourceOut(BaseModel):
    source: str
    quantity: float = Field(description="Quantity in `unit`")
    unit: str
    moisture_fraction: float | None = Field(description="Firewood: moisture as received, 0–1 wet basis")
    density_kg_m3: float | None = Field(description="Firewood in m3: stacked density, kg/m³")


class EntryOut(BaseModel):
    factory_id: int
    month: str = Field(description="Local month YYYY-MM")
    status: str = Field(description="missing (nothing saved), draft, submitted or approved")
    sources: list[SourceOut]
    green_leaf_kg: float | None = Field(description="kg")
    made_tea_kg: float | None = Field(description="kg")
    note: str | None
    submitted_at: datetime | None = Field(description="UTC")
    approved_at: datetime | None = Field(description="UTC")
    updated_at: datetime | None = Field(description="UTC")
    version: int = Field(0, description=(
        "Changes with every save, submission, approval or return (0: nothing saved). Send it back "
        "(`version` in the body or `If-Match: \"<version>\"`) so a change made meanwhile is refused, not overwritten"))
    approved_version: int | None = Field(None, description="The version HQ approved (approved months)")
    warnings: list[str] = Field(default_factory=list, description="Unusual figures worth a second look (saved anyway)")
