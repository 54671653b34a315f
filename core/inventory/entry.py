"""Monthly energy and production entry: validation, preview, save draft, submit, approve, reopen.

Every change is written to the audit log field by field (who, when, old value, new value).
An approved month is locked: only an admin can reopen it, with a reason. Authorization is
checked here (core.access), not only in the page.

Concurrent edits (issue 18): a month has a version (MonthlySubmission.version, +1 on every
change of its figures or status). Save, submit, approve and return take the version the page or
API client saw (`expected_version`; 0 = nothing was saved yet) and refuse a different one with
core.audit.StaleEdit ("changed by X at T — reload"). Each operation reads the month with SELECT …
FOR UPDATE and updates it with the version in the UPDATE's WHERE, so under READ COMMITTED a save
and an approval running together never both commit: the second waits, sees the new version and
is refused. Two racing first saves: the second INSERT violates the (factory, month) key and is
refused the same way. On a StaleEdit the session has been rolled back.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from core.access import AccessDenied, UserLike, can_approve, can_enter_data, is_admin, require_factory
from core.audit import StaleEdit, record_audit, stale_message
from core.emissions import ZERO_EMISSIONS, EmissionsError, FuelEmissions, electricity_kwh, fuel_emissions
from core.inventory.factors import FactorSet
from core.inventory.monthly import ELECTRICITY_SOURCES, monthly_inventory, source_line
from core.models import (
    ENERGY_SOURCES,
    STATUS_APPROVED,
    STATUS_DRAFT,
    STATUS_SUBMITTED,
    AuditLog,
    EnergyEntry,
    Factory,
    MonthlySubmission,
)
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start, utcnow
from core.validation import NOTE_MAX_CHARS, FieldError, text

# Units a factory may log each source in (core.emissions converts them).
UNITS_BY_SOURCE: dict[str, tuple[str, ...]] = {
    "firewood": ("m3", "kg", "t"),
    "briquettes": ("kg", "t"),
    "charcoal": ("kg", "t"),
    "diesel": ("L", "m3", "kg", "t"),
    "furnace_oil": ("L", "m3", "kg", "t"),
    "lpg": ("kg", "t", "L"),
    "grid_electricity": ("kWh", "MWh"),
    "own_hydro": ("kWh", "MWh"),
    "own_solar": ("kWh", "MWh"),
}
SOURCE_LABELS = {
    "firewood": "Firewood", "briquettes": "Briquettes", "charcoal": "Charcoal", "diesel": "Diesel",
    "furnace_oil": "Furnace oil", "lpg": "LPG", "grid_electricity": "Grid electricity",
    "own_hydro": "Own hydro", "own_solar": "Own solar",
}
# Upper bounds of the possible for one factory-month (about 100× a large KTDA factory's month);
# larger numbers are typing errors.
MAX_FUEL_KG = 50_000_000.0
MAX_KWH = 50_000_000.0
MAX_TEA_KG = 50_000_000.0
FIRST_MONTH = date(2000, 1, 1)  # no factory-month before this is entered (the system's data starts far later)
UNIT_LABELS = {"m3": "m³"}
MOISTURE_RANGE = (0.0, 0.7)  # firewood as received, wet basis
DENSITY_RANGE_KG_M3 = (150.0, 1000.0)  # stacked firewood
UNUSUAL_FACTOR = 3.0  # warn above 3× or below 1/3 of the median of previous months
HISTORY_MONTHS = 12
MISSING_LOOKBACK = 3  # a source logged in each of the last 3 months and missing now is flagged for HQ
RECONCILE_WARN_PCT = 30.0  # measured vs calculated combustion CO2 further apart than this is flagged for HQ
SUBMITTED_NO_DRAFT = ("This month is submitted; change it and submit again, or ask HQ to reopen it. "
                      "(Save draft would take it out of HQ's approval queue.)")


class EntryError(ValueError):
    """The entry cannot be saved as asked; the message says why."""


@dataclass
class SourceInput:
    """One source line as typed."""

    quantity: float | None
    unit: str
    moisture_fraction: float | None = None
    density_kg_m3: float | None = None


@dataclass
class EntryForm:
    """A month's energy and production as typed in the form."""

    month: date
    sources: dict[str, SourceInput] = field(default_factory=dict)
    green_leaf_kg: float | None = None
    made_tea_kg: float | None = None
    note: str | None = None
    # Fields that came from the form empty ("" or None): a source or production figure that is
    # stored is never removed by an empty field (type 0 to remove a source); see save_entry.
    blank: set[str] = field(default_factory=set)
    note_error: str | None = None  # the note as sent was refused (wrong type, too long, control characters)


@dataclass
class Validation:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The form field each error belongs to (a source code, "moisture", "density", "green_leaf_kg",
    # "made_tea_kg", "note", "month"): the page highlights it and the preview leaves it out.
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def refuse(self, key: str, message: str) -> None:
        """Record an error against the form field `key`."""
        self.errors.append(message)
        self.fields.setdefault(key, message)


@dataclass(frozen=True)
class Preview:
    """What the entry implies (the same arithmetic as core.inventory.monthly)."""

    combustion: FuelEmissions
    scope2_kg: float
    grid_kwh: float
    own_kwh: float
    made_tea_kg: float | None
    line_errors: dict[str, str]

    @property
    def ch4_n2o_co2e_kg(self) -> float:
        return self.combustion.co2e_kg - self.combustion.fossil_co2_kg

    @property
    def total_kg(self) -> float:
        return self.combustion.co2e_kg + self.scope2_kg

    @property
    def intensity_kg_per_kg(self) -> float | None:
        return None if not self.made_tea_kg or self.made_tea_kg <= 0 else self.total_kg / self.made_tea_kg


_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")


def _num(value) -> float | None:
    """Return the number typed: None for an empty field, NaN for text that is not a number.

    Accepts "816,210" (thousands grouped by commas) and the typographic minus "−5".
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip().replace("\u2212", "-").replace("\u00a0", "").replace(" ", "")
        if value == "":
            return None
        if _GROUPED.match(value):
            value = value.replace(",", "")
    if isinstance(value, bool):
        return math.nan
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan
    return x


def parse_form(month: date, quantities: Mapping[str, object], units: Mapping[str, object],
               moisture_pct: object = None, density: object = None, green_leaf: object = None,
               made_tea: object = None, note: str | None = None) -> EntryForm:
    """Build an EntryForm from raw form values (moisture in %; text that is not a number is NaN).

    An empty quantity leaves the source out and is listed in `blank`; 0 is kept (it removes a
    stored source on save).
    """
    sources = {}
    blank: set[str] = set()
    for src in ENERGY_SOURCES:
        qty = _num(quantities.get(src))
        if qty is None:
            blank.add(src)
            continue
        unit = str(units.get(src) or UNITS_BY_SOURCE[src][0])
        si = SourceInput(qty, unit)
        if src == "firewood":
            m = _num(moisture_pct)
            si.moisture_fraction = None if m is None else m / 100.0
            si.density_kg_m3 = _num(density)
        sources[src] = si
    gl, mt = _num(green_leaf), _num(made_tea)
    blank |= {key for key, x in (("green_leaf_kg", gl), ("made_tea_kg", mt)) if x is None}
    note_error = None
    try:
        note_text = text(note, "Note", NOTE_MAX_CHARS, multiline=True)
    except FieldError as exc:
        note_text, note_error = None, exc.message
    return EntryForm(month_start(month), sources, gl, mt, note_text, blank, note_error)


def _base_quantity(source: str, si: SourceInput, factors: FactorSet, default_density: float | None) -> float | None:
    """Return quantity in kg (fuels) or kWh (electricity), for comparisons against history."""
    try:
        if source in ELECTRICITY_SOURCES:
            return electricity_kwh(si.quantity or 0.0, si.unit)
        em = fuel_emissions(source, si.quantity or 0.0, si.unit, factors.fuels,
                            moisture_fraction=si.moisture_fraction,
                            density_kg_m3=si.density_kg_m3 or default_density)
        return em.mass_kg
    except EmissionsError:
        return None


def history_medians(session: Session, factory_id: int, month: date, factors: FactorSet,
                    default_density: float | None) -> dict[str, float]:
    """Return median of each source (kg or kWh) and of production over the previous months with data."""
    first = add_months(month, -HISTORY_MONTHS)
    subs = session.scalars(
        sa.select(MonthlySubmission)
        .where(MonthlySubmission.factory_id == factory_id, MonthlySubmission.month >= first,
               MonthlySubmission.month < month)
        .options(selectinload(MonthlySubmission.entries))
    )
    values: dict[str, list[float]] = {}
    for sub in subs:
        for e in sub.entries:
            base = _base_quantity(e.source, SourceInput(e.quantity, e.unit, e.moisture_fraction, e.density_kg_m3),
                                  factors, default_density)
            if base is not None and base > 0:
                values.setdefault(e.source, []).append(base)
        for key in ("green_leaf_kg", "made_tea_kg"):
            v = getattr(sub, key)
            if v:
                values.setdefault(key, []).append(v)
    return {k: statistics.median(v) for k, v in values.items() if v}


def validate(form: EntryForm, factors: FactorSet, medians: Mapping[str, float] | None = None,
             default_density: float | None = None, today: date | None = None) -> Validation:
    """Refuse impossible values with a message; warn about values far from the factory's history."""
    v = Validation()
    medians = medians or {}
    if today is not None and form.month > month_start(today):
        v.refuse("month", "The month is in the future.")
    if form.month < FIRST_MONTH:
        v.refuse("month", f"The month is before {FIRST_MONTH:%B %Y}.")
    if form.note_error:
        v.refuse("note", form.note_error)
    for src, si in form.sources.items():
        label = SOURCE_LABELS.get(src, src)
        if src not in UNITS_BY_SOURCE:
            v.refuse(src, f"{label}: unknown energy source.")
            continue
        if si.unit not in UNITS_BY_SOURCE[src]:
            v.refuse(src, f"{label}: unit {si.unit[:20]!r} is not allowed; use one of "
                          f"{', '.join(UNITS_BY_SOURCE[src])}.")
            continue
        q = si.quantity
        if q is None or math.isnan(q) or math.isinf(q):
            v.refuse(src, f"{label}: the quantity is not a number.")
            continue
        if q < 0:
            v.refuse(src, f"{label}: the quantity cannot be negative.")
            continue
        if q == 0:  # 0 = not used this month (removes a stored line on save)
            continue
        if src == "firewood":
            if si.moisture_fraction is not None and (
                math.isnan(si.moisture_fraction) or not MOISTURE_RANGE[0] <= si.moisture_fraction <= MOISTURE_RANGE[1]
            ):
                v.refuse("moisture", "Firewood: moisture must be between 0 and 70 %.")
                v.fields.setdefault(src, "see the moisture")
                continue
            if si.density_kg_m3 is not None and (
                math.isnan(si.density_kg_m3) or not DENSITY_RANGE_KG_M3[0] <= si.density_kg_m3 <= DENSITY_RANGE_KG_M3[1]
            ):
                v.refuse("density", "Firewood: stacked density must be between 150 and 1,000 kg/m³.")
                v.fields.setdefault(src, "see the density")
                continue
            if si.unit == "m3" and not (si.density_kg_m3 or default_density):
                v.refuse("density", "Firewood in m³ needs a stacked density (kg/m³): enter it or set the "
                                    "factory's default.")
                v.fields.setdefault(src, "see the density")
                continue
        base = _base_quantity(src, si, factors, default_density)
        if base is None:
            v.refuse(src, f"{label}: cannot convert {q:g} {si.unit}.")
            continue
        base_unit = "kWh" if src in ELECTRICITY_SOURCES else "kg"
        limit = MAX_KWH if src in ELECTRICITY_SOURCES else MAX_FUEL_KG
        if base > limit:
            v.refuse(src, f"{label}: {q:,.10g} {UNIT_LABELS.get(si.unit, si.unit)} "
                          f"({base:,.0f} {base_unit}) in one month is not possible for one factory "
                          f"(at most {limit:,.0f} {base_unit}).")
            continue
        typed = None if si.unit == base_unit else f"{q:,.10g} {UNIT_LABELS.get(si.unit, si.unit)}"
        _warn_unusual(v, label, base, medians.get(src), base_unit, typed)
    for key, label in (("green_leaf_kg", "Green leaf"), ("made_tea_kg", "Made tea")):
        x = getattr(form, key)
        if x is None:
            continue
        if math.isnan(x) or math.isinf(x):
            v.refuse(key, f"{label}: not a number.")
        elif x < 0:
            v.refuse(key, f"{label}: cannot be negative.")
        elif x > MAX_TEA_KG:
            v.refuse(key, f"{label}: {x:,.0f} kg in one month is not possible for one factory "
                          f"(at most {MAX_TEA_KG:,.0f} kg).")
        else:
            _warn_unusual(v, label, x, medians.get(key), "kg")
    gl, mt = form.green_leaf_kg, form.made_tea_kg
    if (gl and mt and "green_leaf_kg" not in v.fields and "made_tea_kg" not in v.fields
            and not (math.isnan(gl) or math.isnan(mt)) and mt > gl):
        v.refuse("made_tea_kg", "Made tea cannot exceed green leaf (about 4.5 kg of leaf make 1 kg of tea).")
    return v


def _warn_unusual(v: Validation, label: str, value: float, median: float | None, unit: str,
                  typed: str | None = None) -> None:
    if not median or median <= 0 or value <= 0:
        return
    if value > UNUSUAL_FACTOR * median or value < median / UNUSUAL_FACTOR:
        as_typed = f" ({typed} as typed)" if typed else ""
        v.warnings.append(
            f"{label}: {value:,.0f} {unit}{as_typed} is far from this factory's usual {median:,.0f} {unit} "
            f"(median of previous months). Check the quantity and its unit before submitting."
        )


def preview(form: EntryForm, factors: FactorSet, gwp: str = "AR5", default_density: float | None = None,
            refused: Mapping[str, str] | None = None) -> Preview:
    """Return the emissions the entry implies, computed as core.inventory.monthly computes a month.

    Lines in `refused` (Validation.fields) are left out: a refused value never feeds the figures.
    """
    combustion = ZERO_EMISSIONS
    scope2 = grid_kwh = own_kwh = 0.0
    errors: dict[str, str] = {}
    refused = refused or {}
    for src, si in form.sources.items():
        if src in refused:
            errors[src] = refused[src]
            continue
        if si.quantity is None or math.isnan(si.quantity) or si.quantity < 0:
            continue
        entry = SimpleNamespace(source=src, quantity=si.quantity, unit=si.unit,
                                moisture_fraction=si.moisture_fraction, density_kg_m3=si.density_kg_m3)
        line = source_line(entry, factors, gwp, default_density)
        if line.error:
            errors[src] = line.error
            continue
        combustion = combustion + line.emissions
        scope2 += line.scope2_kg
        if src == "grid_electricity":
            grid_kwh += line.kwh
        elif src in ELECTRICITY_SOURCES:
            own_kwh += line.kwh
    tea = form.made_tea_kg
    if tea is None or not math.isfinite(tea) or "made_tea_kg" in refused:
        tea = None
    return Preview(combustion, scope2, grid_kwh, own_kwh, tea, errors)


def get_submission(session: Session, user: UserLike | None, factory_id: int, month: date,
                   for_update: bool = False) -> MonthlySubmission | None:
    """Return the factory's submission for `month` (with its entries), if any.

    `for_update` locks the row until the transaction ends (PostgreSQL; SQLite serialises writers
    anyway) and reads its latest committed state: a change waits for a concurrent one to finish.
    """
    require_factory(user, factory_id)
    query = (sa.select(MonthlySubmission)
             .where(MonthlySubmission.factory_id == factory_id, MonthlySubmission.month == month_start(month))
             .options(selectinload(MonthlySubmission.entries)))
    if for_update:
        query = query.with_for_update(of=MonthlySubmission).execution_options(populate_existing=True)
    return session.scalar(query)


def submission_version(sub: MonthlySubmission | None) -> int:
    """The version a page or API client sees: 0 when nothing is saved for the month yet."""
    return 0 if sub is None else sub.version


def _stale(session: Session, factory_id: int, month: date, tz: tzinfo) -> StaleEdit:
    """Roll back and return the "changed by X at T — reload" refusal for the month."""
    session.rollback()
    entity_id = _entity_id(session, factory_id, month)
    current = session.scalar(sa.select(MonthlySubmission.version).where(
        MonthlySubmission.factory_id == factory_id, MonthlySubmission.month == month_start(month)))
    message = stale_message(session, f"The month {entity_id}", "monthly_submission", entity_id, tz)
    return StaleEdit(message, current or 0)


def _check_version(session: Session, sub: MonthlySubmission | None, expected_version: int | None,
                   factory_id: int, month: date, tz: tzinfo) -> None:
    """Refuse when the client saw another version of the month than the one now stored."""
    if expected_version is None or expected_version == submission_version(sub):
        return
    raise _stale(session, factory_id, month, tz)


def _flush(session: Session, factory_id: int, month: date, tz: tzinfo) -> None:
    """Flush; a racing writer that got there first (StaleDataError, duplicate first save) is a StaleEdit."""
    try:
        session.flush()
    except (StaleDataError, IntegrityError) as exc:
        if isinstance(exc, IntegrityError) and "monthly_submission" not in str(exc.orig).lower():
            raise  # not the (factory, month) key of a racing first save: a bug, not a conflict
        raise _stale(session, factory_id, month, tz) from exc


def _fmt(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def save_entry(session: Session, user: UserLike | None, factory_id: int, form: EntryForm, factors: FactorSet,
               submit: bool = False, now: datetime | None = None, tz: tzinfo = DEFAULT_TZ,
               expected_version: int | None = None) -> tuple[MonthlySubmission, Validation]:
    """Save the month as a draft (or submit it); audit every changed field; the caller commits.

    `expected_version` is the version the user saw (0: nothing saved yet; None: no check, the
    row lock still serialises concurrent saves). Raises AccessDenied for a user who may not
    enter this factory's data, StaleEdit when the month changed since, EntryError when the month
    is locked or the entry has errors.
    """
    if not can_enter_data(user, factory_id):
        raise AccessDenied("you may not enter data for this factory")
    now = now or utcnow()
    factory = session.get(Factory, factory_id)
    if factory is None:
        raise AccessDenied("no such factory")
    month = month_start(form.month)
    medians = history_medians(session, factory_id, month, factors, factory.firewood_density_kg_m3)
    check = validate(form, factors, medians, factory.firewood_density_kg_m3, local_date(now, tz))
    if not check.ok:
        raise EntryError(" ".join(check.errors))
    sub = get_submission(session, user, factory_id, month, for_update=True)
    _check_version(session, sub, expected_version, factory_id, month, tz)
    if sub is not None and sub.status == STATUS_APPROVED:
        raise EntryError("This month is approved and locked. An admin can reopen it with a reason.")
    if sub is not None and sub.status == STATUS_SUBMITTED and not submit:
        raise EntryError(SUBMITTED_NO_DRAFT)
    existing = {e.source: e for e in sub.entries} if sub is not None else {}
    kept = blank_over_stored(form, sub, existing)
    if kept:
        raise EntryError(" ".join(kept))
    entity_id = _entity_id(session, factory_id, month)

    def log(field_name: str, old, new, action: str = "update") -> None:
        if _fmt(old) != _fmt(new):
            record_audit(session, user, action, "monthly_submission", entity_id=entity_id, factory_id=factory_id,
                         field=field_name, old_value=_fmt(old), new_value=_fmt(new), at=now)

    if sub is None:
        sub = MonthlySubmission(factory_id=factory_id, month=month, status=STATUS_DRAFT)
        session.add(sub)
        record_audit(session, user, "create", "monthly_submission", entity_id=entity_id, factory_id=factory_id,
                     at=now, detail="new month")
    for key in ("green_leaf_kg", "made_tea_kg", "note"):
        new = getattr(form, key)
        log(key, getattr(sub, key), new)
        setattr(sub, key, new)
    for src in ENERGY_SOURCES:
        si = form.sources.get(src)
        e = existing.get(src)
        if si is None or si.quantity == 0:  # left out (API) or 0 typed: the source is not used this month
            if e is not None:
                log(f"{src}.quantity", f"{e.quantity:g} {e.unit}", None, action="delete")
                if src == "firewood":
                    log("firewood.moisture_fraction", e.moisture_fraction, None, action="delete")
                    log("firewood.density_kg_m3", e.density_kg_m3, None, action="delete")
                sub.entries.remove(e)
            continue
        if e is None:
            e = EnergyEntry(source=src, quantity=si.quantity, unit=si.unit,
                            moisture_fraction=si.moisture_fraction, density_kg_m3=si.density_kg_m3)
            sub.entries.append(e)
            log(f"{src}.quantity", None, f"{si.quantity:g} {si.unit}")
            if src == "firewood":
                log("firewood.moisture_fraction", None, si.moisture_fraction)
                log("firewood.density_kg_m3", None, si.density_kg_m3)
            continue
        log(f"{src}.quantity", f"{e.quantity:g} {e.unit}", f"{si.quantity:g} {si.unit}")
        e.quantity, e.unit = si.quantity, si.unit
        if src == "firewood":
            log("firewood.moisture_fraction", e.moisture_fraction, si.moisture_fraction)
            log("firewood.density_kg_m3", e.density_kg_m3, si.density_kg_m3)
            e.moisture_fraction, e.density_kg_m3 = si.moisture_fraction, si.density_kg_m3
    new_status = STATUS_SUBMITTED if submit else STATUS_DRAFT
    if submit and sub.status == STATUS_SUBMITTED:
        record_audit(session, user, "submit", "monthly_submission", entity_id=entity_id, factory_id=factory_id,
                     field="status", old_value=STATUS_SUBMITTED, new_value=STATUS_SUBMITTED, at=now,
                     detail="re-submitted with corrections")
    elif submit or sub.status != STATUS_DRAFT:
        log("status", sub.status if sub.id else None, new_status, action="submit" if submit else "update")
    sub.status = new_status
    if submit:
        sub.submitted_at = now
        sub.submitted_by_id = user.id
    if sub.id is not None:
        flag_modified(sub, "status")  # the row is updated (version + 1) even when only entries changed
    _flush(session, factory_id, month, tz)
    return sub, check


def blank_over_stored(form: EntryForm, sub: MonthlySubmission | None, existing: Mapping[str, EnergyEntry]) -> list[str]:
    """Return a message for each empty field whose figure is stored: an empty field never deletes data."""
    if sub is None:
        return []
    out = []
    for src in ENERGY_SOURCES:
        e = existing.get(src)
        if src in form.blank and e is not None:
            out.append(f"{SOURCE_LABELS[src]}: the field is empty but {e.quantity:,.10g} {e.unit} is stored; "
                       f"type 0 to remove {SOURCE_LABELS[src].lower()} from this month, or type the quantity.")
    for key, label in (("green_leaf_kg", "Green leaf"), ("made_tea_kg", "Made tea")):
        stored = getattr(sub, key)
        if key in form.blank and stored is not None:
            out.append(f"{label}: the field is empty but {stored:,.10g} kg is stored; type the figure "
                       f"(0 if there was none).")
    return out


def _entity_id(session: Session, factory_id: int, month: date) -> str:
    factory = session.get(Factory, factory_id)
    return f"{factory.code if factory else factory_id}/{month:%Y-%m}"


def entered_by(session: Session, user: UserLike, factory_id: int, month: date) -> bool:
    """Tell whether `user` created, changed or submitted the month's figures (from the audit log)."""
    return session.scalar(
        sa.select(sa.func.count()).select_from(AuditLog).where(
            AuditLog.entity == "monthly_submission",
            AuditLog.entity_id == _entity_id(session, factory_id, month),
            AuditLog.user_id == user.id,
            AuditLog.action.in_(("create", "update", "delete", "submit")),
        )
    ) > 0


def approve(session: Session, user: UserLike | None, factory_id: int, month: date, now: datetime | None = None,
            expected_version: int | None = None, tz: tzinfo = DEFAULT_TZ) -> MonthlySubmission:
    """Approve a submitted month (HQ or admin); it is then locked. The caller commits.

    The approval names the version approved (`approved_version`, and in the audit log): the one
    HQ saw when `expected_version` is given; a month changed since is refused with StaleEdit.
    """
    if not can_approve(user):
        raise AccessDenied("only HQ and admins approve monthly data")
    sub = get_submission(session, user, factory_id, month, for_update=True)
    _check_version(session, sub, expected_version, factory_id, month_start(month), tz)
    if sub is None or sub.status != STATUS_SUBMITTED:
        raise EntryError("Only a submitted month can be approved.")
    if entered_by(session, user, factory_id, sub.month) or sub.submitted_by_id == user.id:
        # Four-eyes check (issue 14): the approver is a second person, never whoever entered
        # or submitted the figures; an admin who keyed in a factory's month asks HQ to approve it.
        raise EntryError("You entered or submitted this month's figures: another HQ user or admin must approve "
                         "them (four-eyes check).")
    now = now or utcnow()
    approved_version = sub.version
    record_audit(session, user, "approve", "monthly_submission", entity_id=_entity_id(session, factory_id, sub.month),
                 factory_id=factory_id, field="status", old_value=sub.status, new_value=STATUS_APPROVED, at=now,
                 detail=f"approved version {approved_version}")
    sub.status = STATUS_APPROVED
    sub.approved_at = now
    sub.approved_by_id = user.id
    sub.approved_version = approved_version
    _flush(session, factory_id, sub.month, tz)
    return sub


def can_reopen(user: UserLike | None, status: str) -> bool:
    """HQ and admins may return a submitted month; only admins an approved one."""
    if status == STATUS_SUBMITTED:
        return can_approve(user)
    return status == STATUS_APPROVED and is_admin(user)


def reopen(session: Session, user: UserLike | None, factory_id: int, month: date, reason: str, now: datetime | None = None,
           expected_version: int | None = None, tz: tzinfo = DEFAULT_TZ) -> MonthlySubmission:
    """Return a month to the factory as a draft, with a reason. The caller commits.

    HQ and admins send a submitted month back for corrections; only an admin reopens an
    approved (locked) month. A month changed since `expected_version` is refused (StaleEdit).
    """
    if not can_reopen(user, STATUS_SUBMITTED):
        raise AccessDenied("only HQ and admins return a month to the factory")
    reason = reason.strip() if isinstance(reason, str) else ""
    if len(reason) > NOTE_MAX_CHARS:
        raise EntryError(f"The reason has {len(reason):,} characters; at most {NOTE_MAX_CHARS:,}.")
    if len(reason) < 5:
        raise EntryError("Give a reason (at least a few words) for reopening the month.")
    sub = get_submission(session, user, factory_id, month, for_update=True)
    _check_version(session, sub, expected_version, factory_id, month_start(month), tz)
    if sub is None or sub.status not in (STATUS_SUBMITTED, STATUS_APPROVED):
        raise EntryError("Only a submitted or approved month can be reopened.")
    if not can_reopen(user, sub.status):
        raise AccessDenied("only admins reopen an approved month")
    now = now or utcnow()
    record_audit(session, user, "reopen", "monthly_submission", entity_id=_entity_id(session, factory_id, sub.month),
                 factory_id=factory_id, field="status", old_value=sub.status, new_value=STATUS_DRAFT,
                 detail=reason[:1000], at=now)
    sub.status = STATUS_DRAFT
    sub.approved_at = None
    sub.approved_by_id = None
    sub.approved_version = None
    _flush(session, factory_id, sub.month, tz)
    return sub


def pending_approvals(session: Session, user: UserLike | None) -> list[tuple[MonthlySubmission, str]]:
    """Return submitted months waiting for approval, with the factory name (HQ and admin)."""
    if not can_approve(user):
        return []
    rows = session.execute(
        sa.select(MonthlySubmission, Factory.name)
        .join(Factory, Factory.id == MonthlySubmission.factory_id)
        .where(MonthlySubmission.status == STATUS_SUBMITTED)
        .order_by(MonthlySubmission.month.desc(), Factory.name)
        .limit(200)
    ).all()
    return [(s, name) for s, name in rows]


def approval_warnings(session: Session, user: UserLike | None, factory_id: int, month: date,
                      factors: FactorSet, now: datetime | None = None, tz: tzinfo = DEFAULT_TZ) -> list[str]:
    """Return what HQ should check before approving the month: the entry's warnings against the
    factory's history, sources logged every recent month but missing now, and a large gap between
    measured and calculated combustion CO2. Empty when there is nothing (or no submission)."""
    month = month_start(month)
    sub = get_submission(session, user, factory_id, month)
    if sub is None:
        return []
    factory = session.get(Factory, factory_id)
    density = factory.firewood_density_kg_m3 if factory else None
    form = EntryForm(month, {e.source: SourceInput(e.quantity, e.unit, e.moisture_fraction, e.density_kg_m3)
                             for e in sub.entries}, sub.green_leaf_kg, sub.made_tea_kg, sub.note)
    check = validate(form, factors, history_medians(session, factory_id, month, factors, density), density)
    out = list(check.errors) + list(check.warnings)
    logged_now = {e.source for e in sub.entries if e.quantity and e.quantity > 0}
    previous = list(session.scalars(
        sa.select(MonthlySubmission)
        .where(MonthlySubmission.factory_id == factory_id,
               MonthlySubmission.month >= add_months(month, -MISSING_LOOKBACK), MonthlySubmission.month < month)
        .options(selectinload(MonthlySubmission.entries))
    ))
    if len(previous) == MISSING_LOOKBACK:
        always = set.intersection(*({e.source for e in p.entries if e.quantity and e.quantity > 0} for p in previous))
        for src in ENERGY_SOURCES:
            if src in always and src not in logged_now:
                out.append(f"{SOURCE_LABELS[src]} is missing: it was logged in each of the last "
                           f"{MISSING_LOOKBACK} months. Ask the factory whether none was used.")
    inv = monthly_inventory(session, [month], factors, [factory_id], tz=tz, now=now)
    # Before approval the month is not substituted yet (core.measurement.substitution): a plausibility check.
    pct = inv[0].coverage_scaled_reconciliation_pct if inv else None
    if pct is not None and abs(pct) > RECONCILE_WARN_PCT:
        out.append(f"Measured stack CO2 (scaled to full data coverage) is {pct:+.0f} % against the combustion "
                   f"CO2 calculated from this fuel log; usually within ±{RECONCILE_WARN_PCT:.0f} %. "
                   f"Check the fuel quantities and units.")
    return out
