"""The emission-factor library: versioned rows with their citation, seeded from domain.md §2.

A factor row is never edited or deleted: a change is a new version (`add_factor_version`), and
every report names the versions it used (`FactorSet.versions`).

Versions are effective-dated (issue 18): a version is in force on a date d when
valid_from <= d < valid_to (NULL = open); among those, the latest valid_from wins, then the
highest version. A report uses the versions in force on its period's first day
(`load_factor_set(session, at=...)`), or exactly the versions an earlier report used
(`versions=`), which is how a regenerated report repeats its figures.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.emissions import FuelFactor
from core.models import EmissionFactor
from core.timeutil import DEFAULT_TZ, local_date, utcnow

log = logging.getLogger(__name__)
IPCC_SOURCE = "IPCC 2006 Guidelines for National GHG Inventories, Vol. 2 Energy"
IPCC_CITATION = (
    "NCV: Vol 2 Ch 1 Table 1.2; CO2 EF: Vol 2 Ch 1 Table 1.4; CH4/N2O: Vol 2 Ch 2 Table 2.3 "
    "(manufacturing industries). Cross-checked against iClimate/ghgpy data/efs.py (domain.md §2.1)."
)
IFI_SOURCE = "IFI Harmonized Default Grid Factors 2021 v3.1 (UNFCCC)"
IFI_CITATION = (
    'thegreenwebfoundation/co2.js data/IFI_Default_Grid_Factors_2021_v3.1_unfccc.csv: '
    '"Kenya",274,462,274,274,574 (domain.md §2.3). CDM-style margin, not an inventory average.'
)
WOOD_CITATION = (
    "NCV: Vol 2 Ch 1 Table 1.2, Wood/Wood Waste 15.6 TJ/Gg (lower 7.9, upper 31.0); CO2 EF: Vol 2 Ch 1 "
    "Table 1.4; CH4/N2O: Vol 2 Ch 2 Table 2.3 (manufacturing industries). A laboratory NCV of a fuel lot "
    "replaces the default NCV for that lot."
)

# Seed rows. Values: domain.md §2.1 (IPCC Table 1.2/1.4/2.3) and §2.3 (Kenya grid).
SEED_FACTORS: list[dict] = [
    dict(code="diesel", kind="fuel", label="Diesel (gas/diesel oil)", ncv_mj_per_kg=43.0,
         co2_kg_per_tj=74_100, ch4_kg_per_tj=3, n2o_kg_per_tj=0.6, biomass_fraction=0.0,
         # density 0.844 kg/L as used by iClimate/ghgpy (domain.md §2.1); supplier/KEBS value preferred
         density_kg_per_l=0.844, source=IPCC_SOURCE, table_ref="Table 1.2, 1.4, 2.3", year=2006),
    dict(code="furnace_oil", kind="fuel", label="Furnace oil (residual fuel oil, HFO)", ncv_mj_per_kg=40.4,
         co2_kg_per_tj=77_400, ch4_kg_per_tj=3, n2o_kg_per_tj=0.6, biomass_fraction=0.0,
         density_kg_per_l=0.98,  # density assumption of domain.md §2.1 ready-to-use table
         source=IPCC_SOURCE, table_ref="Table 1.2, 1.4, 2.3", year=2006),
    dict(code="lpg", kind="fuel", label="LPG", ncv_mj_per_kg=47.3, co2_kg_per_tj=63_100,
         ch4_kg_per_tj=1, n2o_kg_per_tj=0.1, biomass_fraction=0.0,
         density_kg_per_l=0.51,  # liquid LPG, domain.md §2.1 ready-to-use table
         source=IPCC_SOURCE, table_ref="Table 1.2, 1.4, 2.3", year=2006),
    # Issue 14: the IPCC default NCV as received, no moisture correction (dry_ncv_mj_per_kg None);
    # a lab NCV per fuel lot (core.models.LabNcv) replaces it for that lot's months.
    dict(code="firewood", kind="fuel", label="Firewood (wood/wood waste)", ncv_mj_per_kg=15.6,
         co2_kg_per_tj=112_000, ch4_kg_per_tj=30, n2o_kg_per_tj=4, biomass_fraction=1.0,
         density_kg_per_l=None, source=IPCC_SOURCE, table_ref="Table 1.2, 1.4, 2.3", year=2006,
         citation=WOOD_CITATION),
    dict(code="briquettes", kind="fuel", label="Briquettes (other primary solid biomass)", ncv_mj_per_kg=11.6,
         co2_kg_per_tj=100_000, ch4_kg_per_tj=30, n2o_kg_per_tj=4, biomass_fraction=1.0,
         density_kg_per_l=None, source=IPCC_SOURCE, table_ref="Table 1.2, 1.4, 2.3", year=2006),
    dict(code="charcoal", kind="fuel", label="Charcoal", ncv_mj_per_kg=29.5, co2_kg_per_tj=112_000,
         ch4_kg_per_tj=200, n2o_kg_per_tj=4, biomass_fraction=1.0, density_kg_per_l=None,
         source=IPCC_SOURCE, table_ref="Table 1.2, 1.4, 2.3", year=2006),
    dict(code="grid_ke_average", kind="electricity", label="Kenya grid, generation average (location-based)",
         kg_co2_per_kwh=0.08483, is_default=True, source="Ember 2024, via co2.js",
         table_ref="data/output/average-intensities.json: KEN 2024, 84.83 gCO2/kWh", year=2024,
         citation="Annual generation-average intensity; GHG Protocol location-based Scope 2 (domain.md §2.3)."),
    dict(code="grid_ke_ifi_cm", kind="electricity", label="Kenya grid, IFI combined margin",
         kg_co2_per_kwh=0.274, is_default=False, source=IFI_SOURCE, table_ref="Kenya row, CM (firm RE, EE)",
         year=2021, citation=IFI_CITATION),
    dict(code="grid_ke_ifi_om", kind="electricity", label="Kenya grid, IFI operating margin",
         kg_co2_per_kwh=0.574, is_default=False, source=IFI_SOURCE, table_ref="Kenya row, OM (incl. PCAF)",
         year=2021, citation=IFI_CITATION),
    dict(code="own_renewable", kind="electricity", label="Own hydro / solar (self-generated)",
         kg_co2_per_kwh=0.0, is_default=False, source="domain.md §3 (GTIEA small hydros)",
         table_ref="self-generated share", year=2012,
         citation="Factories with their own hydro need a Scope-2 factor of about 0 for the self-generated share."),
]

DEFAULT_GRID_CODE = "grid_ke_average"


@dataclass(frozen=True)
class FactorSet:
    """The factor versions in force for a calculation: fuels, grid factor, and what was used."""

    fuels: Mapping[str, FuelFactor]
    grid_code: str
    grid_kg_co2_per_kwh: float
    own_renewable_kg_co2_per_kwh: float = 0.0
    versions: Mapping[str, int] = field(default_factory=dict)
    citations: Mapping[str, str] = field(default_factory=dict)
    at: date | None = None  # the date the versions were chosen for (None: pinned or latest)


def seed_factors(session: Session, created_by: str = "seed") -> int:
    """Insert version 1 of every seed factor that is missing; return how many were added."""
    existing = set(session.scalars(sa.select(EmissionFactor.code)))
    added = 0
    for row in SEED_FACTORS:
        if row["code"] in existing:
            continue
        data = dict(row)
        data.setdefault("citation", IPCC_CITATION)
        session.add(EmissionFactor(version=1, created_by=created_by, **data))
        added += 1
    return added


# Numeric columns of a factor row and the bounds a usable value lies in (the admin form's ranges
# live in core.registry.admin; these are the wider "not garbage" bounds used when reading).
NUMERIC_COLUMNS = ("ncv_mj_per_kg", "co2_kg_per_tj", "ch4_kg_per_tj", "n2o_kg_per_tj", "biomass_fraction",
                   "density_kg_per_l", "kg_co2_per_kwh")
MAX_FACTOR_VALUE = 1e7


def factor_row_problem(row: EmissionFactor) -> str | None:
    """Return what makes a stored factor row unusable (NaN, infinite, negative or absurd), or None."""
    for name in NUMERIC_COLUMNS:
        value = getattr(row, name)
        if value is None:
            continue
        if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= MAX_FACTOR_VALUE:
            return f"{name}={value!r}"
    if row.biomass_fraction is not None and row.biomass_fraction > 1:
        return f"biomass_fraction={row.biomass_fraction!r}"
    return None


def latest_factors(session: Session) -> dict[str, EmissionFactor]:
    """The newest usable version of every factor code.

    A version whose numbers are unusable (a NaN written before input was validated) is skipped
    with a warning, so one bad row never breaks every dashboard and report: the version before
    it stays in force and reports name the version they actually used.
    """
    out: dict[str, EmissionFactor] = {}
    rows = session.scalars(sa.select(EmissionFactor).order_by(EmissionFactor.code, EmissionFactor.version.desc()))
    for r in rows:
        if r.code in out:
            continue
        problem = factor_row_problem(r)
        if problem:
            log.warning("emission factor %s v%s skipped: unusable value %s", r.code, r.version, problem)
            continue
        out[r.code] = r
    return out


def _in_force(row: EmissionFactor, at: date) -> bool:
    return (row.valid_from is None or row.valid_from <= at) and (row.valid_to is None or at < row.valid_to)


def factors_in_force(session: Session, at: date) -> dict[str, EmissionFactor]:
    """The usable version of every factor code in force on the local date `at`."""
    out: dict[str, EmissionFactor] = {}
    for r in session.scalars(sa.select(EmissionFactor).order_by(EmissionFactor.code, EmissionFactor.version)):
        if not _in_force(r, at):
            continue
        problem = factor_row_problem(r)
        if problem:
            log.warning("emission factor %s v%s skipped: unusable value %s", r.code, r.version, problem)
            continue
        best = out.get(r.code)
        if best is None or (r.valid_from or date.min, r.version) >= (best.valid_from or date.min, best.version):
            out[r.code] = r
    return out


def factor_rows(session: Session, versions: Mapping[str, int], at: date) -> dict[str, EmissionFactor]:
    """Exactly the versions named in `versions`; codes it does not name are taken in force on `at`."""
    rows = factors_in_force(session, at)
    if versions:
        pinned = session.scalars(sa.select(EmissionFactor).where(EmissionFactor.code.in_(list(versions))))
        for r in pinned:
            if versions.get(r.code) == r.version:
                rows[r.code] = r
    return rows


def load_factor_set(session: Session, grid_code: str | None = None, at: date | None = None,
                    versions: Mapping[str, int] | None = None) -> FactorSet:
    """The factor versions in force on `at` (default: today, local) as a FactorSet.

    `grid_code` picks a non-default grid factor. `versions` ({code: version}, as a report
    recorded them) pins those exact versions, so a report regenerated later repeats its figures.
    """
    day = at or local_date(utcnow(), DEFAULT_TZ)
    rows = factor_rows(session, versions or {}, day)
    if not rows:
        raise LookupError("the emission-factor library is empty: run `carbontrack init-db`")
    fuels = {
        code: FuelFactor(
            code=code,
            ncv_mj_per_kg=r.ncv_mj_per_kg,
            co2_kg_per_tj=r.co2_kg_per_tj,
            ch4_kg_per_tj=r.ch4_kg_per_tj,
            n2o_kg_per_tj=r.n2o_kg_per_tj,
            biomass_fraction=r.biomass_fraction,
            density_kg_per_l=r.density_kg_per_l,
            version=r.version,
            dry_ncv_mj_per_kg=r.dry_ncv_mj_per_kg,
        )
        for code, r in rows.items()
        if r.kind == "fuel"
    }
    if grid_code is None and versions:
        pinned_grid = [c for c in versions if c in rows and rows[c].kind == "electricity" and c != "own_renewable"]
        grid_code = pinned_grid[0] if len(pinned_grid) == 1 else None
    if grid_code is None:
        defaults = [r for r in rows.values() if r.kind == "electricity" and r.is_default]
        grid_code = defaults[0].code if defaults else DEFAULT_GRID_CODE
    if grid_code not in rows or rows[grid_code].kind != "electricity":
        raise LookupError(f"unknown grid factor {grid_code!r}")
    grid = rows[grid_code]
    own = rows.get("own_renewable")
    used = {code: r.version for code, r in rows.items() if r.kind == "fuel"}
    used[grid_code] = grid.version
    if own is not None:
        used[own.code] = own.version
    citations = {code: f"{r.source}; {r.table_ref} ({r.year})" for code, r in rows.items()}
    return FactorSet(
        fuels=fuels,
        grid_code=grid_code,
        grid_kg_co2_per_kwh=grid.kg_co2_per_kwh,
        own_renewable_kg_co2_per_kwh=own.kg_co2_per_kwh if own is not None else 0.0,
        versions=used,
        citations=citations,
        at=None if versions else day,
    )


def add_factor_version(session: Session, code: str, created_by: str, **values) -> EmissionFactor:
    """Add a new version of factor `code` with `values` changed; earlier versions stay untouched.

    `values` may carry `valid_from` / `valid_to` (local dates) and `change_reason`; without
    `valid_from` the version is in force from always (it then wins over older open versions).
    """
    current = latest_factors(session).get(code)
    if current is None:
        raise LookupError(f"unknown factor {code!r}")
    newest = session.scalar(sa.select(sa.func.max(EmissionFactor.version)).where(EmissionFactor.code == code))
    copy_fields = [c.key for c in EmissionFactor.__table__.columns if c.key not in ("id", "version", "created_at", "created_by")]
    data = {k: getattr(current, k) for k in copy_fields}
    # Effective dates and the reason belong to the new version alone (default: in force from always).
    data.update(valid_from=None, valid_to=None, change_reason=None)
    unknown = set(values) - set(copy_fields)
    if unknown:
        raise ValueError(f"not factor fields: {', '.join(sorted(unknown))}")
    data.update(values)
    # Copies the newest usable version; numbers after any skipped (unusable) version.
    row = EmissionFactor(version=(newest or current.version) + 1, created_by=created_by, created_at=utcnow(), **data)
    session.add(row)
    return row
