"""The schema (SQLAlchemy 2.0 declarative). Migrations in `migrations/` mirror this module.

Conventions:
- every timestamp column is UTC (`UTCDateTime` stores naive UTC, returns aware UTC);
- `day` and `month` columns are *local* calendar dates (CARBONTRACK_TZ); a month is stored as
  the first day of that month;
- names carry units (`diameter_m`, `co2_kg`, `covered_s`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from core.timeutil import utcnow

# Roles (DESIGN.md "People and roles").
ROLE_FACTORY_MANAGER = "factory_manager"
ROLE_HQ = "hq"
ROLE_ADMIN = "admin"
ROLE_AUDITOR = "auditor"
ROLES = (ROLE_FACTORY_MANAGER, ROLE_HQ, ROLE_ADMIN, ROLE_AUDITOR)

# Reading quality flags.
QUALITY_VALID = 0
QUALITY_INVALID = 1  # outside physical ranges: stored, excluded from totals
# Server quality checks (reading.server_flags, bits; docs/qaqc.md "Quality flags"): any bit but 0
# comes with quality = QUALITY_INVALID. Set by the listener (mqtt_listener/qa.py).
QA_RANGE = 1  # a value outside its physical range (mqtt_listener.decode.PHYSICAL_RANGES)
QA_NODE = 2  # the node flagged the reading not valid (contract v1.1 flags)
QA_FLATLINE = 4  # the same value for N consecutive readings
QA_SPIKE = 8  # CO2 changed faster than the rate-of-change limit
QA_LOW_VELOCITY = 16  # velocity below the flow sensor's minimum
QA_CONVERSION = 32  # the mass flow could not be computed

# Monthly submission workflow.
STATUS_DRAFT = "draft"
STATUS_SUBMITTED = "submitted"
STATUS_APPROVED = "approved"
SUBMISSION_STATUSES = (STATUS_DRAFT, STATUS_SUBMITTED, STATUS_APPROVED)

# Energy sources a factory logs monthly (see core.emissions for units and factors).
ENERGY_SOURCES = (
    "firewood",
    "briquettes",
    "charcoal",
    "diesel",
    "furnace_oil",
    "lpg",
    "grid_electricity",
    "own_hydro",
    "own_solar",
)

naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Store datetimes as naive UTC; hand them back as aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _now() -> datetime:
    return utcnow()


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=naming_convention)


class Factory(Base):
    __tablename__ = "factory"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    region: Mapped[int] = mapped_column(sa.Integer)
    county: Mapped[str] = mapped_column(sa.String(60))
    latitude: Mapped[float] = mapped_column(sa.Float)
    longitude: Mapped[float] = mapped_column(sa.Float)
    altitude_m: Mapped[float] = mapped_column(sa.Float)
    # Target intensity: kg CO2e (Scope 1 fossil + Scope 2) per kg made tea.
    target_kg_co2e_per_kg: Mapped[float | None] = mapped_column(sa.Float)
    # Default firewood stacked density for m³ entries (factory-measured), kg/m³.
    firewood_density_kg_m3: Mapped[float | None] = mapped_column(sa.Float)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    version: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")  # +1 per admin edit (issue 18)

    stacks: Mapped[list[Stack]] = relationship(back_populates="factory", order_by="Stack.id")
    devices: Mapped[list[Device]] = relationship(back_populates="factory", order_by="Device.id")


class Stack(Base):
    """A boiler chimney; its parameters turn a reading into a mass flow."""

    __tablename__ = "stack"

    id: Mapped[int] = mapped_column(primary_key=True)
    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    diameter_m: Mapped[float] = mapped_column(sa.Float)
    moisture_fraction: Mapped[float] = mapped_column(sa.Float, default=0.0)
    dry_basis: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # analyser reads dry
    velocity_profile_factor: Mapped[float] = mapped_column(sa.Float, default=1.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)
    version: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")  # +1 per admin edit (issue 18)

    factory: Mapped[Factory] = relationship(back_populates="stacks")


class Device(Base):
    """A sensor node; `id` is the device_id in topics and payloads (e.g. KGW-S1)."""

    __tablename__ = "device"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), index=True)
    stack_id: Mapped[int] = mapped_column(sa.ForeignKey("stack.id"), index=True)
    # Each valid reading stands for this many seconds of stack flow (the node's publish interval).
    sample_interval_s: Mapped[float] = mapped_column(sa.Float, default=60.0)
    firmware: Mapped[str | None] = mapped_column(sa.String(40))
    status: Mapped[str] = mapped_column(sa.String(16), default="unknown")  # online/offline/unknown
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_reading_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rssi_dbm: Mapped[int | None] = mapped_column(sa.Integer)
    uptime_s: Mapped[int | None] = mapped_column(sa.BigInteger)
    buffered: Mapped[int | None] = mapped_column(sa.Integer)
    last_seq: Mapped[int | None] = mapped_column(sa.BigInteger)
    # Contract v1.1: highest contiguous seq committed and acknowledged to the node on .../ack.
    acked_seq: Mapped[int | None] = mapped_column(sa.BigInteger)
    # The interval the node last reported (interval_s in telemetry); the registry's stays the default.
    reported_interval_s: Mapped[float | None] = mapped_column(sa.Float)
    # Health from the node's JSON status (contract v1.1); health_at is when it arrived.
    reset_reason: Mapped[str | None] = mapped_column(sa.String(32))
    free_heap: Mapped[int | None] = mapped_column(sa.Integer)
    min_free_heap: Mapped[int | None] = mapped_column(sa.Integer)
    safe_mode: Mapped[bool | None] = mapped_column(sa.Boolean)
    health_counters: Mapped[str | None] = mapped_column(sa.Text)  # JSON {name: count}
    health_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    version: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")  # +1 per admin edit (issue 18)

    factory: Mapped[Factory] = relationship(back_populates="devices")
    stack: Mapped[Stack] = relationship()


# SQL condition of a reading invalid for a reason other than (only) the low-velocity check (QA_LOW_VELOCITY = 16).
READING_OTHER_INVALID = "quality <> 0 AND (server_flags IS NULL OR server_flags <> 16)"


class Reading(Base):
    """One stack measurement with the mass flow computed from it and the parameters used.

    On PostgreSQL the table is partitioned by local month on `ts` (migration
    0011_reading_partitions, core/measurement/retention.py), so its primary key is (id, ts); on
    SQLite it is a plain table whose key is `id` (the rowid). Either way `id` comes from the
    database and (device_id, ts) is unique.
    """

    __tablename__ = "reading"
    __table_args__ = (
        sa.UniqueConstraint("device_id", "ts", name="uq_reading_device_ts"),
        # A factory's readings over a time range: the API readings page and the co2_high alert
        # (they used ix_reading_ts, a scan of every factory's rows in the range, until 0011).
        sa.Index("ix_reading_factory_ts", "factory_id", "ts"),
        # The end-to-end ack looks for the highest contiguous committed seq of a device.
        sa.Index("ix_reading_device_seq", "device_id", "seq"),
        # Readings invalid for a reason other than low velocity (rare): they rule an hour out of the
        # non-operating hours that data availability leaves out of its denominator (migration 0013).
        sa.Index("ix_reading_other_invalid", "device_id", "ts", postgresql_where=sa.text(READING_OTHER_INVALID),
                 sqlite_where=sa.text(READING_OTHER_INVALID)),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    device_id: Mapped[str] = mapped_column(sa.ForeignKey("device.id"))
    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    seq: Mapped[int | None] = mapped_column(sa.BigInteger)
    co2_ppm: Mapped[float] = mapped_column(sa.Float)
    flue_temp_c: Mapped[float] = mapped_column(sa.Float)
    velocity_m_s: Mapped[float] = mapped_column(sa.Float)
    pressure_pa: Mapped[float | None] = mapped_column(sa.Float)  # as sent by the node (optional)
    co2_kg_s: Mapped[float | None] = mapped_column(sa.Float)
    quality: Mapped[int] = mapped_column(sa.SmallInteger, default=QUALITY_VALID)
    quality_reason: Mapped[str | None] = mapped_column(sa.String(120))
    # Stack parameters used for co2_kg_s, so the value can be recomputed and audited.
    pressure_used_pa: Mapped[float | None] = mapped_column(sa.Float)
    diameter_m: Mapped[float | None] = mapped_column(sa.Float)
    moisture_fraction: Mapped[float | None] = mapped_column(sa.Float)
    dry_basis: Mapped[bool | None] = mapped_column(sa.Boolean)
    velocity_profile_factor: Mapped[float | None] = mapped_column(sa.Float)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    # Contract v1.1 (NULL on readings stored before it): the node's quality flags (bits in
    # docs/payload.md), its sampling interval, and the seconds of stack flow this reading covers
    # (its interval capped by the gap to the device's next reading and by 3,600 s).
    flags: Mapped[int | None] = mapped_column(sa.Integer)
    interval_s: Mapped[float | None] = mapped_column(sa.Float)
    covered_s: Mapped[float | None] = mapped_column(sa.Float)
    dp_pa: Mapped[float | None] = mapped_column(sa.Float)  # raw pitot differential pressure
    # The node's own conversion parameters, stored as evidence (the registry's are used).
    node_diameter_m: Mapped[float | None] = mapped_column(sa.Float)
    node_velocity_profile_factor: Mapped[float | None] = mapped_column(sa.Float)
    node_pitot_k: Mapped[float | None] = mapped_column(sa.Float)
    # Server quality-check bits (QA_* above; NULL on readings stored before issue 12).
    server_flags: Mapped[int | None] = mapped_column(sa.Integer)


class _RollupMixin:
    n_readings: Mapped[int] = mapped_column(sa.Integer, default=0)  # stored, valid or not
    n_valid: Mapped[int] = mapped_column(sa.Integer, default=0)
    covered_s: Mapped[float] = mapped_column(sa.Float, default=0.0)  # Σ valid × sample interval
    co2_kg: Mapped[float] = mapped_column(sa.Float, default=0.0)  # Σ valid co2_kg_s × interval
    sum_co2_kg_s: Mapped[float] = mapped_column(sa.Float, default=0.0)
    sum_co2_ppm: Mapped[float] = mapped_column(sa.Float, default=0.0)
    sum_flue_temp_c: Mapped[float] = mapped_column(sa.Float, default=0.0)
    sum_velocity_m_s: Mapped[float] = mapped_column(sa.Float, default=0.0)
    max_co2_kg_s: Mapped[float | None] = mapped_column(sa.Float)


class DeviceHourly(_RollupMixin, Base):
    """Per device, per UTC hour (an hour is the same in UTC and EAT: the offset is whole hours)."""

    __tablename__ = "rollup_device_hourly"

    device_id: Mapped[str] = mapped_column(sa.ForeignKey("device.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), index=True)


class DeviceDaily(_RollupMixin, Base):
    """Per device, per local day."""

    __tablename__ = "rollup_device_daily"

    device_id: Mapped[str] = mapped_column(sa.ForeignKey("device.id"), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), index=True)


class FactoryHourly(_RollupMixin, Base):
    """Per factory (all its devices), per UTC hour."""

    __tablename__ = "rollup_factory_hourly"

    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)


class FactoryDaily(_RollupMixin, Base):
    """Per factory (all its devices), per local day."""

    __tablename__ = "rollup_factory_daily"

    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)


sa.Index("ix_rollup_factory_daily_day", FactoryDaily.day)
sa.Index("ix_rollup_factory_hourly_hour", FactoryHourly.hour)
sa.Index("ix_rollup_device_hourly_hour", DeviceHourly.hour)  # migration 0015: availability reads by hour


class MonthlySubmission(Base):
    """A factory's data for one local month: production plus the status of the whole month."""

    __tablename__ = "monthly_submission"
    __table_args__ = (sa.UniqueConstraint("factory_id", "month", name="uq_monthly_submission_factory_month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), index=True)
    month: Mapped[date] = mapped_column(sa.Date, index=True)
    green_leaf_kg: Mapped[float | None] = mapped_column(sa.Float)
    made_tea_kg: Mapped[float | None] = mapped_column(sa.Float)
    status: Mapped[str] = mapped_column(sa.String(16), default=STATUS_DRAFT)
    note: Mapped[str | None] = mapped_column(sa.Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)
    # Optimistic concurrency (issue 18): +1 on every UPDATE of the row, checked in its WHERE; a save
    # of the month's entries always updates this row too (core.inventory.entry), so the version
    # names exactly one set of figures. `approved_version` is the version HQ saw and approved.
    version: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")
    approved_version: Mapped[int | None] = mapped_column(sa.Integer)
    __mapper_args__ = {"version_id_col": version}

    entries: Mapped[list[EnergyEntry]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", order_by="EnergyEntry.id"
    )


class EnergyEntry(Base):
    """One energy source's quantity for a month, in the unit the factory logged it in."""

    __tablename__ = "energy_entry"
    __table_args__ = (sa.UniqueConstraint("submission_id", "source", name="uq_energy_entry_submission_source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("monthly_submission.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(sa.String(32))
    quantity: Mapped[float] = mapped_column(sa.Float)
    unit: Mapped[str] = mapped_column(sa.String(16))
    moisture_fraction: Mapped[float | None] = mapped_column(sa.Float)  # firewood, as received
    density_kg_m3: Mapped[float | None] = mapped_column(sa.Float)  # firewood in m³
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)
    version: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")  # +1 per UPDATE (issue 18)
    __mapper_args__ = {"version_id_col": version}

    submission: Mapped[MonthlySubmission] = relationship(back_populates="entries")


class EmissionFactor(Base):
    """A versioned emission factor with its citation. Rows are never edited or deleted."""

    __tablename__ = "emission_factor"
    __table_args__ = (sa.UniqueConstraint("code", "version", name="uq_emission_factor_code_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), index=True)  # e.g. diesel, grid_ke_average
    version: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(16))  # fuel | electricity
    label: Mapped[str] = mapped_column(sa.String(120))
    ncv_mj_per_kg: Mapped[float | None] = mapped_column(sa.Float)
    co2_kg_per_tj: Mapped[float | None] = mapped_column(sa.Float)
    ch4_kg_per_tj: Mapped[float | None] = mapped_column(sa.Float)
    n2o_kg_per_tj: Mapped[float | None] = mapped_column(sa.Float)
    biomass_fraction: Mapped[float] = mapped_column(sa.Float, default=0.0)
    density_kg_per_l: Mapped[float | None] = mapped_column(sa.Float)
    kg_co2_per_kwh: Mapped[float | None] = mapped_column(sa.Float)
    source: Mapped[str] = mapped_column(sa.String(200))
    table_ref: Mapped[str] = mapped_column(sa.String(200))
    year: Mapped[int] = mapped_column(sa.Integer)
    citation: Mapped[str] = mapped_column(sa.Text)
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=True)  # grid: the one used unless chosen
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    created_by: Mapped[str | None] = mapped_column(sa.String(80))
    # Effective dating (issue 18): the version applies to a local month whose first day lies in
    # [valid_from, valid_to); NULL = open. Among versions in force the latest valid_from wins
    # (then the highest version), so rows stay unedited (core.inventory.factors.factor_in_force).
    valid_from: Mapped[date | None] = mapped_column(sa.Date)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)
    # Firewood only: dry-basis NCV that turns an entry's moisture into an as-received NCV. NULL =
    # the NCV above is used as it is (IPCC default); set on the pre-issue-14 rows (retailer-derived).
    dry_ncv_mj_per_kg: Mapped[float | None] = mapped_column(sa.Float)
    change_reason: Mapped[str | None] = mapped_column(sa.Text)  # why this version was added


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    full_name: Mapped[str | None] = mapped_column(sa.String(120))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(20))
    factory_id: Mapped[int | None] = mapped_column(sa.ForeignKey("factory.id"))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    version: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")  # +1 per admin edit (issue 18)
    # The portal's language ("en", "sw"), chosen with the navbar's switch; None = browser's choice.
    language: Mapped[str | None] = mapped_column(sa.String(8))


class WebSession(Base):
    """A signed-in browser session, checked on every request (the cookie only carries its id).

    The row's id is the SHA-256 of the random token in the cookie, so a copy of this table
    cannot be replayed. A session ends (ended_at set) by sign-out, a password change, the
    account's deactivation, an admin's "sign out everywhere", or its idle or absolute timeout.
    """

    __tablename__ = "web_session"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_reason: Mapped[str | None] = mapped_column(sa.String(40))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))


class SignInFailure(Base):
    """Failed sign-ins per (username as typed, client address): the growing delay between attempts.

    Keyed by what was typed, whether or not such an account exists, so the answer never tells;
    and per address, so failures from elsewhere never lock the real user (or the admin) out.
    """

    __tablename__ = "sign_in_failure"

    username: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    ip: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    next_allowed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLog(Base):
    """Who changed what, when, with the old and the new value."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    username: Mapped[str | None] = mapped_column(sa.String(80))
    action: Mapped[str] = mapped_column(sa.String(40))  # create / update / delete / submit / approve / login…
    entity: Mapped[str] = mapped_column(sa.String(40))  # table or concept
    entity_id: Mapped[str | None] = mapped_column(sa.String(80))
    factory_id: Mapped[int | None] = mapped_column(sa.ForeignKey("factory.id"), index=True)
    field: Mapped[str | None] = mapped_column(sa.String(80))
    old_value: Mapped[str | None] = mapped_column(sa.Text)
    new_value: Mapped[str | None] = mapped_column(sa.Text)
    detail: Mapped[str | None] = mapped_column(sa.Text)


class Report(Base):
    """A generated workbook: one version of one (kind, factory, month)."""

    __tablename__ = "report"
    __table_args__ = (
        sa.UniqueConstraint("kind", "scope_key", "period", "month", "version",
                            name="uq_report_kind_scope_period_month_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # factory | network
    factory_id: Mapped[int | None] = mapped_column(sa.ForeignKey("factory.id"), index=True)
    scope_key: Mapped[str] = mapped_column(sa.String(20))  # factory code, or "NETWORK"
    # month | quarter | year; `month` holds the period's first day (a quarter: Jan/Apr/Jul/Oct 1).
    period: Mapped[str] = mapped_column(sa.String(8), default="month", server_default="month")
    month: Mapped[date] = mapped_column(sa.Date, index=True)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")  # pending/running/done/failed
    path: Mapped[str | None] = mapped_column(sa.String(400))
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    factor_versions: Mapped[str | None] = mapped_column(sa.Text)  # JSON {code: version}
    gwp_set: Mapped[str | None] = mapped_column(sa.String(8))
    error: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    requested_by: Mapped[str | None] = mapped_column(sa.String(80))  # username or "scheduler"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    generated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReportVerification(Base):
    """A verifier's sign-off on one version of an annual report: opinion and statement, never edited.

    The SHA-256 of the file signed is copied, so the statement stays tied to those exact bytes.
    """

    __tablename__ = "report_verification"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("report.id"), index=True)
    report_sha256: Mapped[str] = mapped_column(sa.String(64))
    verifier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    verifier_username: Mapped[str] = mapped_column(sa.String(80))
    opinion: Mapped[str] = mapped_column(sa.String(40))
    statement: Mapped[str] = mapped_column(sa.Text)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class SupplierDeclaration(Base):
    """A biomass supplier's sustainability declaration for one factory's fuel, valid over a date range.

    CBAM (Implementing Reg. 2023/1773 Annex III; RED II Art. 29) zero-rates biomass CO2 only when the
    biomass meets the sustainability criteria; a fuel month not covered by a valid declaration counts
    as fossil in the CBAM-rule figures. Rows are never edited: a withdrawn declaration gets
    `withdrawn_at`.
    """

    __tablename__ = "supplier_declaration"

    id: Mapped[int] = mapped_column(primary_key=True)
    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), index=True)
    source: Mapped[str] = mapped_column(sa.String(32))  # firewood | briquettes | charcoal
    supplier: Mapped[str] = mapped_column(sa.String(120))
    scheme: Mapped[str] = mapped_column(sa.String(120))  # e.g. "RED II Art. 29 self-declaration", "FSC"
    reference: Mapped[str] = mapped_column(sa.String(120))  # certificate or declaration number
    valid_from: Mapped[date] = mapped_column(sa.Date)
    valid_to: Mapped[date] = mapped_column(sa.Date)
    recorded_by: Mapped[str | None] = mapped_column(sa.String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EvidenceFile(Base):
    """A supporting document (invoice, weighbridge ticket, meter photo, declaration) stored by SHA-256.

    Attached either to a factory-month's energy source (`month` + `source`; the entry row itself may
    be replaced when the month is re-saved, the pair is stable) or to a supplier declaration.
    """

    __tablename__ = "evidence_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), index=True)
    month: Mapped[date | None] = mapped_column(sa.Date)  # energy evidence: the local month
    source: Mapped[str | None] = mapped_column(sa.String(32))  # energy evidence: the energy source
    declaration_id: Mapped[int | None] = mapped_column(sa.ForeignKey("supplier_declaration.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(200))  # as uploaded, sanitised
    content_type: Mapped[str] = mapped_column(sa.String(100))  # detected from the bytes
    size_bytes: Mapped[int] = mapped_column(sa.Integer)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    stored_path: Mapped[str] = mapped_column(sa.String(400))
    description: Mapped[str | None] = mapped_column(sa.String(200))
    uploaded_by: Mapped[str | None] = mapped_column(sa.String(80))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class StoredBlob(Base):
    """A file in shared storage (core.storage.DatabaseStore): a workbook or an evidence file, by key."""

    __tablename__ = "stored_blob"

    key: Mapped[str] = mapped_column(sa.String(400), primary_key=True)  # e.g. reports/2026-10/<file>.xlsx
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size_bytes: Mapped[int] = mapped_column(sa.Integer)
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class JobRun(Base):
    """One run of a scheduled job for one period; the unique key stops two schedulers doing it twice."""

    __tablename__ = "job_run"
    __table_args__ = (sa.UniqueConstraint("job", "period", name="uq_job_run_job_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(sa.String(60))
    period: Mapped[str] = mapped_column(sa.String(20))  # e.g. 2026-10
    status: Mapped[str] = mapped_column(sa.String(16), default="running")  # running/done/failed
    owner: Mapped[str | None] = mapped_column(sa.String(120))  # host:pid
    attempts: Mapped[int] = mapped_column(sa.Integer, default=1)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RejectedMessage(Base):
    """An MQTT payload that could not be ingested, with the reason and the raw bytes (truncated)."""

    __tablename__ = "rejected_message"
    __table_args__ = (sa.Index("ix_rejected_message_device_seq", "device_id", "seq"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, index=True)
    topic: Mapped[str] = mapped_column(sa.String(300))
    reason: Mapped[str] = mapped_column(sa.String(40), index=True)  # machine-readable code
    detail: Mapped[str | None] = mapped_column(sa.Text)
    payload: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    payload_size: Mapped[int] = mapped_column(sa.Integer)
    device_id: Mapped[str | None] = mapped_column(sa.String(40))
    seq: Mapped[int | None] = mapped_column(sa.BigInteger)  # the rejected reading's seq, if one


class RetentionHorizon(Base):
    """How far back a pruned table still holds rows (written by `carbontrack retention`)."""

    __tablename__ = "retention_horizon"

    data: Mapped[str] = mapped_column(sa.String(40), primary_key=True)  # the table: reading, audit_log, …
    kept_from: Mapped[datetime] = mapped_column(UTCDateTime)  # rows before this instant were dropped
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class ListenerStat(Base):
    """Latest counters of one listener process, for the health page."""

    __tablename__ = "listener_stat"

    instance: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    counters: Mapped[str] = mapped_column(sa.Text)  # JSON


# --- Fleet operations (issue 13): remote commands, OTA campaigns, firmware inventory -------------

# DeviceCommand.status: queued (in the outbox) -> sending -> sent -> ok | failed | timeout.
CMD_QUEUED = "queued"
CMD_SENDING = "sending"
CMD_SENT = "sent"
CMD_OK = "ok"
CMD_FAILED = "failed"
CMD_TIMEOUT = "timeout"


class DeviceCommand(Base):
    """One command to one node: the outbox row, what was sent, and the node's result."""

    __tablename__ = "device_command"
    __table_args__ = (sa.Index("ix_device_command_status", "status"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)  # the "id" on the cmd topic
    device_id: Mapped[str] = mapped_column(sa.ForeignKey("device.id"), index=True)
    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(24))  # set_interval, reboot, status, calibrate, payload_size, ota
    payload: Mapped[str] = mapped_column(sa.Text)  # the JSON published on the cmd topic
    status: Mapped[str] = mapped_column(sa.String(16), default=CMD_QUEUED)
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    requested_by: Mapped[str | None] = mapped_column(sa.String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # no result by then: timeout
    result_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result_ok: Mapped[bool | None] = mapped_column(sa.Boolean)
    result_detail: Mapped[str | None] = mapped_column(sa.Text)
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ota_campaign.id"), index=True)


class FirmwareImage(Base):
    """An uploaded firmware image, stored under the data directory; checked by size and SHA-256."""

    __tablename__ = "firmware_image"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(40), unique=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size_bytes: Mapped[int] = mapped_column(sa.Integer)
    path: Mapped[str] = mapped_column(sa.String(400))  # relative to the data directory
    note: Mapped[str | None] = mapped_column(sa.Text)
    uploaded_by: Mapped[str | None] = mapped_column(sa.String(80))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class OtaCampaign(Base):
    """Rolling one image out to a set of nodes; the token authorises the image download."""

    __tablename__ = "ota_campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(sa.ForeignKey("firmware_image.id"))
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="running")  # running/paused/aborted/done
    target_kind: Mapped[str] = mapped_column(sa.String(16))  # device / factory / region / all
    target_value: Mapped[str | None] = mapped_column(sa.String(40))
    canary_pct: Mapped[float | None] = mapped_column(sa.Float)
    created_by: Mapped[str | None] = mapped_column(sa.String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)


class OtaTarget(Base):
    """One node in a campaign and where its update stands."""

    __tablename__ = "ota_target"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "device_id", name="uq_ota_target_campaign_device"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("ota_campaign.id"), index=True)
    device_id: Mapped[str] = mapped_column(sa.ForeignKey("device.id"))
    # pending, offered, downloading, trial_boot, confirmed, rolled_back, failed, aborted
    state: Mapped[str] = mapped_column(sa.String(16), default="pending")
    from_version: Mapped[str | None] = mapped_column(sa.String(40))
    command_id: Mapped[str | None] = mapped_column(sa.String(40))
    detail: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class FirmwareInstall(Base):
    """Which firmware version a node runs, since when (one row per change seen)."""

    __tablename__ = "firmware_install"
    __table_args__ = (sa.Index("ix_firmware_install_device_since", "device_id", "since_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(sa.ForeignKey("device.id"))
    version: Mapped[str] = mapped_column(sa.String(40))
    since_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


# --- Alerts (issue 13) ---------------------------------------------------------------------------

ALERT_FIRING = "firing"
ALERT_ACKNOWLEDGED = "acknowledged"
ALERT_RESOLVED = "resolved"


class Alert(Base):
    """One occurrence of a rule's condition, from firing to resolved, with who acknowledged it."""

    __tablename__ = "alert"
    __table_args__ = (sa.Index("ix_alert_key_state", "key", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(sa.String(40), index=True)
    key: Mapped[str] = mapped_column(sa.String(160))  # rule + subject, e.g. node_offline:KGW-S1
    factory_id: Mapped[int | None] = mapped_column(sa.ForeignKey("factory.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(sa.String(40))
    audience: Mapped[str] = mapped_column(sa.String(16))  # factory (its managers) / hq / admin
    title: Mapped[str] = mapped_column(sa.String(300))
    detail: Mapped[str | None] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(16), default=ALERT_FIRING)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    last_true_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    clear_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # condition false since (hysteresis)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(80))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(sa.String(80))  # a username, or "system"


class AlertNotification(Base):
    """One message about one alert to one person on one channel; the unique key stops duplicates."""

    __tablename__ = "alert_notification"
    __table_args__ = (
        sa.UniqueConstraint("alert_id", "user_id", "channel", "occasion", name="uq_alert_notification_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alert.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))  # email / sms
    occasion: Mapped[str] = mapped_column(sa.String(40))  # fired, or reminder:<local date>
    address: Mapped[str | None] = mapped_column(sa.String(200))
    # pending (e.g. quiet hours) -> sending -> sent | failed; opted_out / no_address are recorded too
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detail: Mapped[str | None] = mapped_column(sa.Text)


class UserContact(Base):
    """Where and when a user wants alerts: email, phone, opt-outs, quiet hours (local time)."""

    __tablename__ = "user_contact"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"), primary_key=True)
    email: Mapped[str | None] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(sa.String(40))  # E.164, e.g. +254712345678
    email_opt_out: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    sms_opt_out: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    quiet_from_hour: Mapped[int | None] = mapped_column(sa.SmallInteger)  # local hour 0..23; None = no quiet hours
    quiet_to_hour: Mapped[int | None] = mapped_column(sa.SmallInteger)


class FactoryAlertSetting(Base):
    """A factory's alert thresholds; a missing row or NULL means the rule's default."""

    __tablename__ = "factory_alert_setting"

    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), primary_key=True)
    co2_kg_s_max: Mapped[float | None] = mapped_column(sa.Float)  # None = no mass-flow rule for this factory
    co2_minutes: Mapped[int | None] = mapped_column(sa.Integer)
    availability_min: Mapped[float | None] = mapped_column(sa.Float)  # 0..1 share of the last 24 h


class ApiToken(Base):
    """A personal API token: only its SHA-256 is stored; it acts as its user (role, factory)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    # SHA-256 hex of the whole token; the token carries 256 random bits, so a fast hash is enough.
    token_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))  # first characters, to tell tokens apart in lists
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_ip: Mapped[str | None] = mapped_column(sa.String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- Device lifecycle and calibration (issue 12) -------------------------------------------------

# A reading taken while its analyser was out of control (a failed calibration check, until a
# check passes: docs/qaqc.md "Calibration"). Stored, excluded from valid coverage and totals like
# every quality other than QUALITY_VALID. 2 is left for the server's quality checks.
QUALITY_OUT_OF_CONTROL = 3

CAL_ZERO = "zero"
CAL_SPAN = "span"
CAL_KINDS = (CAL_ZERO, CAL_SPAN)
CAL_SOURCE_PORTAL = "portal"
CAL_SOURCE_NODE = "node"


class DeviceAssignment(Base):
    """A node on a stack from its commissioning to its retirement (NULL: still assigned).

    Rows are history: moving or replacing a node closes its row and opens a new one, never edits
    the past. Expected coverage and data availability count a node only while it is assigned.
    """

    __tablename__ = "device_assignment"
    __table_args__ = (sa.Index("ix_device_assignment_device_commissioned", "device_id", "commissioned_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(sa.ForeignKey("device.id"))
    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), index=True)
    stack_id: Mapped[int] = mapped_column(sa.ForeignKey("stack.id"))
    commissioned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    commissioned_by: Mapped[str | None] = mapped_column(sa.String(80))
    commission_reason: Mapped[str | None] = mapped_column(sa.String(200))
    retired_by: Mapped[str | None] = mapped_column(sa.String(80))
    retire_reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class CalibrationCheck(Base):
    """One zero or span check of a node's analyser against a certified reference gas.

    Calibration error = |measured − expected| / span (40 CFR Part 75 Appendix A §3.1); a check
    fails above the limit in core.measurement.calibration. Rows are never edited.
    """

    __tablename__ = "calibration_check"
    __table_args__ = (sa.Index("ix_calibration_check_device_checked", "device_id", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(sa.ForeignKey("device.id"))
    analyser: Mapped[str] = mapped_column(sa.String(40), default="co2")
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(sa.String(8))  # zero | span
    reference_ppm: Mapped[float] = mapped_column(sa.Float)  # the reference gas's certified value
    certificate: Mapped[str | None] = mapped_column(sa.String(80))  # the reference gas certificate id
    measured_ppm: Mapped[float] = mapped_column(sa.Float)
    expected_ppm: Mapped[float] = mapped_column(sa.Float)
    span_ppm: Mapped[float] = mapped_column(sa.Float)
    error_pct: Mapped[float] = mapped_column(sa.Float)
    passed: Mapped[bool] = mapped_column(sa.Boolean)
    recorded_by: Mapped[str | None] = mapped_column(sa.String(80))
    source: Mapped[str] = mapped_column(sa.String(16), default=CAL_SOURCE_PORTAL)  # portal | node
    note: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


# --- Substitution (issue 12): labelled substitute values for hours without valid data -------------

SUBST_HB_HA = "hb_ha_avg"  # 40 CFR 75.33(b)(1)(i): average of the hour before and the hour after
SUBST_P90 = "p90_lookback"  # 75.33(b)(1)(ii)(A): 90th percentile of the look-back hours
SUBST_HB_HA_LONG = "hb_ha_avg_long"  # 75.33(b)(1)(ii)(B): HB/HA average, greater than the percentile
SUBST_ONE_SIDE = "one_side"  # only the hour before (or after) exists: its value
SUBST_NON_OPERATING = "non_operating"  # every reading below the flow sensor's minimum: 0 kg, stack not running
SUBST_METHODS = (SUBST_HB_HA, SUBST_P90, SUBST_HB_HA_LONG, SUBST_ONE_SIDE, SUBST_NON_OPERATING)


class SubstituteHour(Base):
    """A substitute CO2 value for one device-hour without valid data; never counted as coverage.

    Computed by core.measurement.substitution for a closed period (recomputed idempotently);
    kept apart from the measured rollups so a substituted hour is always labelled as one.
    """

    __tablename__ = "substitute_hour"
    __table_args__ = (sa.Index("ix_substitute_hour_factory_hour", "factory_id", "hour"),)

    device_id: Mapped[str] = mapped_column(sa.ForeignKey("device.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)  # UTC hour start
    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"))
    co2_kg: Mapped[float] = mapped_column(sa.Float)
    method: Mapped[str] = mapped_column(sa.String(24))  # SUBST_*
    gap_hours: Mapped[int] = mapped_column(sa.Integer)  # length of the missing-data period it belongs to
    # The hours the value came from: "HB 2026-10-03T04Z=512.3; HA …" or "p90 of 720 h before …".
    basis: Mapped[str] = mapped_column(sa.Text)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


# --- Reproducible reports (issue 18 part D, issue 14 wood NCV) ----------------------------------


class StackVersion(Base):
    """Stack parameters in force from `valid_from` (a local date; NULL = since the stack existed).

    An admin's stack edit adds a row (`core.registry.admin.update_stack`); rows are never edited.
    The `stack` row keeps the values in force today, which the listener uses.
    """

    __tablename__ = "stack_version"
    __table_args__ = (sa.UniqueConstraint("stack_id", "version", name="uq_stack_version_stack_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stack_id: Mapped[int] = mapped_column(sa.ForeignKey("stack.id"), index=True)
    version: Mapped[int] = mapped_column(sa.Integer)
    valid_from: Mapped[date | None] = mapped_column(sa.Date)
    diameter_m: Mapped[float] = mapped_column(sa.Float)
    moisture_fraction: Mapped[float] = mapped_column(sa.Float)
    dry_basis: Mapped[bool] = mapped_column(sa.Boolean)
    velocity_profile_factor: Mapped[float] = mapped_column(sa.Float)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[str | None] = mapped_column(sa.String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class FactorySiteVersion(Base):
    """A factory's altitude (hence its ISA barometric pressure) in force from `valid_from`."""

    __tablename__ = "factory_site_version"
    __table_args__ = (sa.UniqueConstraint("factory_id", "version", name="uq_factory_site_version_factory_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), index=True)
    version: Mapped[int] = mapped_column(sa.Integer)
    valid_from: Mapped[date | None] = mapped_column(sa.Date)
    altitude_m: Mapped[float] = mapped_column(sa.Float)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[str | None] = mapped_column(sa.String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


# LabNcv.basis: the moisture basis the laboratory states its NCV on.
NCV_BASIS_AS_RECEIVED = "as_received"
NCV_BASIS_DRY = "dry"


class LabNcv(Base):
    """A laboratory's NCV of one fuel lot (a supplier declaration), with its certificate.

    Used for the factory's entries of that fuel in every month the lot's validity overlaps,
    instead of the factor library's default (issue 14). Never edited: a wrong one is withdrawn.
    """

    __tablename__ = "lab_ncv"

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(sa.ForeignKey("supplier_declaration.id"), index=True)
    factory_id: Mapped[int] = mapped_column(sa.ForeignKey("factory.id"), index=True)
    source: Mapped[str] = mapped_column(sa.String(32))
    ncv_mj_per_kg: Mapped[float] = mapped_column(sa.Float)
    basis: Mapped[str] = mapped_column(sa.String(16))  # as_received | dry
    moisture_fraction: Mapped[float | None] = mapped_column(sa.Float)  # wet basis, of the sample
    lab: Mapped[str] = mapped_column(sa.String(120))
    certificate_ref: Mapped[str] = mapped_column(sa.String(120))
    evidence_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("evidence_file.id"))
    sampled_on: Mapped[date | None] = mapped_column(sa.Date)
    recorded_by: Mapped[str | None] = mapped_column(sa.String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReportBasis(Base):
    """What one report version was computed from, and whether it restates an earlier version.

    JSON maps: factor {code: version}, stack {stack_id: version}, site {factory_id: version}; lab NCV ids.
    A regeneration without restatement reuses the earlier version's basis, so its figures repeat.
    """

    __tablename__ = "report_basis"

    report_id: Mapped[int] = mapped_column(sa.ForeignKey("report.id"), primary_key=True)
    factor_versions: Mapped[str] = mapped_column(sa.Text)
    stack_versions: Mapped[str] = mapped_column(sa.Text)
    site_versions: Mapped[str] = mapped_column(sa.Text)
    lab_ncv_ids: Mapped[str] = mapped_column(sa.Text, default="[]")  # JSON list of LabNcv ids used
    restated: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    previous_report_id: Mapped[int | None] = mapped_column(sa.ForeignKey("report.id"))
    restatement_reason: Mapped[str | None] = mapped_column(sa.Text)
    restated_by: Mapped[str | None] = mapped_column(sa.String(80))
    changes: Mapped[str | None] = mapped_column(sa.Text)  # JSON list of {what, old, new}
