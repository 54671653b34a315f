"""Demo data: the 67 KTDA factories with 13 months of plausible history, generated deterministically.

`load_demo` fills an *empty* database (`carbontrack init-db --demo`). Everything is drawn from a
seeded `random.Random`, so two loads with the same `now` give the same rows. Rows are written
with bulk inserts (Core executemany; COPY on PostgreSQL): about 1.4 million rollup rows.

How the numbers hang together (every benchmark is from reference/domain.md):
1. Production: made tea per factory and month with a seasonal shape, green leaf at 22–25 kg made
   tea per 100 kg leaf (§3 "Green leaf → made tea").
2. Energy: about 30 MJ of fuel per kg made tea (§3: KTDA 29.76 MJ/kg), mostly firewood logged in
   kg with a moisture fraction, a little diesel, some furnace oil, briquettes or LPG; electricity
   0.3–0.7 kWh per kg made tea (§3 plausibility band), partly own hydro at a few factories.
3. Stack: the month's measured CO2 is the CO2 the fuel log implies (IPCC factors from the
   library, core.emissions.fuel_emissions) times a per-factory measurement bias of ±7 %, so the
   reconciliation lands within about ±15 %. It is spread over days and hours (lower at night)
   and turned into CO2 %, flue temperature and velocity that give that mass flow through
   core.emissions.stack_co2_kg_s at the factory's barometric pressure.
4. Rollups: hourly rows per device, daily rows = sums of the hourly rows of each local day,
   factory rows = sums of the device rows. Raw readings only for the last hours (the live window);
   the rollups of those hours are computed from the readings themselves.
"""

from __future__ import annotations

import csv
import io
import math
import operator
import random
from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core.accounts.users import create_user
from core.emissions import (
    barometric_pressure_pa,
    firewood_ncv_mj_per_kg,
    fuel_emissions,
    stack_co2_kg_s,
)
from core.inventory.factors import FactorSet, load_factor_set, seed_factors
from core.models import (
    QUALITY_VALID,
    ROLE_ADMIN,
    ROLE_AUDITOR,
    ROLE_FACTORY_MANAGER,
    ROLE_HQ,
    STATUS_APPROVED,
    STATUS_DRAFT,
    STATUS_SUBMITTED,
    AuditLog,
    Device,
    DeviceDaily,
    DeviceHourly,
    EnergyEntry,
    Factory,
    FactoryDaily,
    FactoryHourly,
    MonthlySubmission,
    Reading,
    Stack,
    User,
    UTCDateTime,
)
from core.timeutil import (
    DEFAULT_TZ,
    add_months,
    as_utc,
    local_date,
    local_month_bounds_utc,
    month_start,
    utcnow,
)

FACTORIES_CSV = Path(__file__).resolve().parent / "data" / "ktda_factories.csv"
DEMO_SEED = 2683  # any constant; (GEF project id of "Greening the Tea Industry", domain.md §3)
HISTORY_MONTHS = 13  # 12 complete local months + the current partial one
LIVE_WINDOW_H = 6  # raw readings for the last hours only; older history exists as rollups
SAMPLE_INTERVAL_S = 60.0  # Device.sample_interval_s of every demo node
READINGS_PER_HOUR = int(3600 / SAMPLE_INTERVAL_S)
SECOND_STACK_FACTORIES = 10
OFFLINE_DEVICES = 3
GAP_FACTORIES = 5
MISSING_MONTH_FACTORIES = 4
LATE_FACTORIES = 5

# Demo logins, documented in README.md. Passwords are for the demo only.
DEMO_USERS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("admin", "admin-demo-1", ROLE_ADMIN, None, "Demo administrator"),
    ("hq", "hq-demo-1", ROLE_HQ, None, "Demo HQ analyst"),
    ("auditor", "auditor-demo-1", ROLE_AUDITOR, None, "Demo external verifier"),
    ("kagwe", "kagwe-demo-1", ROLE_FACTORY_MANAGER, "KGW", "Demo manager, Kagwe"),
    ("momul", "momul-demo-1", ROLE_FACTORY_MANAGER, "MML", "Demo manager, Momul"),
)

# Seasonal shape of the crop (1 = average month). Demo assumption, not a source: Kenyan tea
# flushes with the long rains (Apr–Jun) and the short rains (Oct–Dec); cold Jul–Aug and the dry
# Jan–Mar are lower.
SEASON = {1: 0.90, 2: 0.78, 3: 0.85, 4: 1.08, 5: 1.25, 6: 1.15, 7: 0.85, 8: 0.80, 9: 0.88, 10: 1.05,
          11: 1.20, 12: 1.18}
# Boiler load by local hour (demo assumption): low at night, full during the day and evening.
HOUR_PROFILE = (0.45, 0.42, 0.42, 0.45, 0.5, 0.6, 0.75, 0.9, 1.0, 1.05, 1.1, 1.1,
                1.1, 1.1, 1.1, 1.12, 1.15, 1.15, 1.12, 1.05, 0.95, 0.85, 0.7, 0.55)
HOUR_PROFILE_SUM = sum(HOUR_PROFILE)

# Annual green leaf per factory: domain.md §3 factory pages (Kapset 15 M kg installed, Momul up
# to 20 M kg); smaller factories assumed down to 8 M kg.
GREEN_LEAF_KG_PER_YEAR = (8e6, 20e6)
MADE_TEA_RATIO = (0.222, 0.248)  # kg made tea per kg green leaf, domain.md §3 (22–25 kg / 100 kg)
FUEL_MJ_PER_KG_TEA = (26.0, 33.0)  # around KTDA's 29.76 MJ/kg, domain.md §3
ELECTRICITY_KWH_PER_KG_TEA = (0.34, 0.64)  # inside the 0.3–0.7 kWh_el/kg band, domain.md §3
FIREWOOD_MOISTURE = (0.25, 0.38)  # as received; §2.1 (25 % air-dried; fresh wood wetter)
FIREWOOD_DENSITY_KG_M3 = (450, 550)  # [C] Makomboki 0.004 m³/kg tea at ~2 kg wood/kg ≈ 500 kg/m³
MEASUREMENT_BIAS = (0.93, 1.07)  # stack vs fuel log, per factory: reconciliation within ~±15 %
FLUE_MOISTURE = (0.10, 0.20)  # H2O in wood flue gas, domain.md §0.5 and §1.5
PROFILE_FACTOR = (0.85, 0.95)  # single-point → area-average velocity, domain.md §0.6
STACK_DIAMETER_M = (0.6, 1.2)  # domain.md §1.5
DESIGN_VELOCITY_M_S = 11.0  # velocity at full load; domain.md §1.5 gives 5–15 m/s
FIRMWARE_VERSIONS = ("1.0.0", "1.0.0", "1.0.2", "1.0.2", "1.0.2", "0.9.8")


@dataclass
class _MonthPlan:
    month: date
    made_tea_kg: float
    green_leaf_kg: float
    entries: list[dict[str, Any]]
    fuel_co2_kg: float  # fossil + biogenic CO2 the fuel log implies
    measured_co2_kg: float  # what the stack should see over the whole month


@dataclass
class _StackPlan:
    name: str
    share: float  # of the factory's stack CO2
    diameter_m: float
    moisture_fraction: float
    dry_basis: bool
    profile: float
    device_id: str
    firmware: str
    peak_kg_s: float = 0.0
    ppm_per_load: float = 0.0
    id: int | None = None


@dataclass
class _FactoryPlan:
    code: str
    name: str
    region: int
    county: str
    latitude: float
    longitude: float
    altitude_m: float
    pressure_pa: float
    firewood_density: float
    months: list[_MonthPlan] = field(default_factory=list)
    stacks: list[_StackPlan] = field(default_factory=list)
    target: float = 0.0
    gap_hours: set[datetime] = field(default_factory=set)
    id: int | None = None


def read_factories_csv(path: Path = FACTORIES_CSV) -> list[dict[str, str]]:
    """Return the KTDA factory list (code, name, region, county, lat, lon, altitude_m)."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_demo(
    session_factory: sessionmaker[Session],
    tz: tzinfo = DEFAULT_TZ,
    now: datetime | None = None,
    seed: int = DEMO_SEED,
    factory_codes: Collection[str] | None = None,
) -> str:
    """Fill an empty database with the demo fleet and its history; return a one-line summary.

    `now` fixes the end of the history (default: the current minute); `factory_codes` loads only
    those factories (each factory's data is the same as in a full load, which tests rely on).
    """
    with session_factory() as s:
        existing = s.scalar(sa.select(sa.func.count()).select_from(Factory))
        if existing:
            return f"demo data not loaded: the database already has {existing} factories"
        now = as_utc(now or utcnow()).replace(second=0, microsecond=0)
        seed_factors(s)
        s.flush()
        factors = load_factor_set(s)
        gen = _Generator(s, tz, now, seed, factors, factory_codes)
        counts = gen.run()
        s.commit()
    first, last = gen.months[0], gen.months[-1]
    return (
        f"demo data: {counts['factories']} factories, {counts['devices']} devices, "
        f"{HISTORY_MONTHS} months ({first:%Y-%m}..{last:%Y-%m}), {counts['hourly']} hourly and "
        f"{counts['daily']} daily rollup rows, {counts['readings']} readings, "
        f"{counts['submissions']} monthly submissions, {counts['users']} users"
    )


class _Generator:
    """Draws the demo fleet and writes it; one instance per load."""

    def __init__(self, session: Session, tz: tzinfo, now: datetime, seed: int, factors: FactorSet,
                 factory_codes: Collection[str] | None = None) -> None:
        self.only = None if factory_codes is None else set(factory_codes)
        self.s = session
        self.tz = tz
        self.now = now
        self.seed = seed
        self.factors = factors
        self.current_month = month_start(local_date(now, tz))
        self.months = [add_months(self.current_month, i - HISTORY_MONTHS + 1) for i in range(HISTORY_MONTHS)]
        self.live_start = now.replace(minute=0) - timedelta(hours=LIVE_WINDOW_H)
        self.counts = defaultdict(int)
        self._days: dict[datetime, date] = {}

    # -- planning ---------------------------------------------------------------------------

    def _rng(self, *key: object) -> random.Random:
        # One stream per purpose and factory: the data of one factory does not depend on the
        # order anything else was drawn in.
        return random.Random("|".join(str(k) for k in (self.seed, *key)))

    def plan(self) -> list[_FactoryPlan]:
        rows = read_factories_csv()
        codes = [r["code"] for r in rows]
        pick = self._rng("features")
        self.two_stacks = set(pick.sample(codes, SECOND_STACK_FACTORIES))
        self.furnace_oil = set(pick.sample(codes, 10))
        self.briquettes = set(pick.sample(codes, 6))
        self.lpg = set(pick.sample(codes, 3))
        # Own hydro: a few factories in Nyeri/Murang'a (Gura) and Kericho (Tagabi), domain.md §3.
        self.hydro = set(pick.sample([r["code"] for r in rows if r["region"] in ("2", "5")], 5))
        self.firewood_m3 = {"MKB"} | set(pick.sample(codes, 2))  # Makomboki logs wood in m³ (§2.1)
        self.gaps = set(pick.sample(codes, GAP_FACTORIES))
        self.missing = set(pick.sample(codes, MISSING_MONTH_FACTORIES))
        self.late = set(pick.sample(codes, LATE_FACTORIES))
        device_ids = [f"{c}-S1" for c in codes] + [f"{c}-S2" for c in sorted(self.two_stacks)]
        self.offline = set(pick.sample(sorted(device_ids), OFFLINE_DEVICES))
        # Half the factories get a target they meet, half one they miss.
        meets = set(pick.sample(codes, len(codes) // 2 + 1))
        plans = []
        for r in rows:
            if self.only is not None and r["code"] not in self.only:
                continue
            plan = self._plan_factory(r)
            rng = self._rng("target", plan.code)
            actual = self._intensity(plan)
            if plan.code in meets:
                plan.target = round(actual * rng.uniform(1.08, 1.30), 3)
            else:
                plan.target = round(actual * rng.uniform(0.70, 0.92), 3)
            plans.append(plan)
        return plans

    def _plan_factory(self, row: dict[str, str]) -> _FactoryPlan:
        code = row["code"]
        rng = self._rng("factory", code)
        altitude = float(row["altitude_m"])
        plan = _FactoryPlan(
            code=code, name=row["name"], region=int(row["region"]), county=row["county"],
            latitude=float(row["lat"]), longitude=float(row["lon"]), altitude_m=altitude,
            pressure_pa=barometric_pressure_pa(altitude),
            firewood_density=float(round(rng.uniform(*FIREWOOD_DENSITY_KG_M3), -1)),
        )
        leaf_per_year = rng.uniform(*GREEN_LEAF_KG_PER_YEAR)
        ratio = rng.uniform(*MADE_TEA_RATIO)
        fuel_mj_per_kg = rng.uniform(*FUEL_MJ_PER_KG_TEA)
        kwh_per_kg = rng.uniform(*ELECTRICITY_KWH_PER_KG_TEA)
        bias = rng.uniform(*MEASUREMENT_BIAS)
        shares = {"diesel": rng.uniform(0.003, 0.008)}
        if code in self.furnace_oil:
            shares["furnace_oil"] = rng.uniform(0.03, 0.08)
        if code in self.briquettes:
            shares["briquettes"] = rng.uniform(0.10, 0.30)
        if code in self.lpg:
            shares["lpg"] = rng.uniform(0.01, 0.02)
        hydro_share = rng.uniform(0.3, 0.6) if code in self.hydro else 0.0
        for month in self.months:
            mrng = self._rng("month", code, month)
            made = leaf_per_year * ratio / 12 * SEASON[month.month] * mrng.uniform(0.93, 1.07)
            made = round(made, -1)
            green = round(made / min(max(ratio * mrng.uniform(0.99, 1.01), MADE_TEA_RATIO[0]), MADE_TEA_RATIO[1]), -1)
            fuel_mj = made * fuel_mj_per_kg * mrng.uniform(0.97, 1.03)
            entries = self._energy_entries(plan, mrng, fuel_mj, shares, made * kwh_per_kg * mrng.uniform(0.96, 1.04),
                                           hydro_share)
            co2 = 0.0
            for e in entries:
                if e["source"] in self.factors.fuels:
                    em = fuel_emissions(e["source"], e["quantity"], e["unit"], self.factors.fuels,
                                        moisture_fraction=e["moisture_fraction"], density_kg_m3=e["density_kg_m3"])
                    co2 += em.fossil_co2_kg + em.biogenic_co2_kg
            plan.months.append(_MonthPlan(month, made, green, entries, co2, co2 * bias * mrng.uniform(0.98, 1.02)))
        self._plan_stacks(plan, rng)
        if code in self.gaps:
            self._plan_gaps(plan)
        return plan

    def _energy_entries(self, plan: _FactoryPlan, rng: random.Random, fuel_mj: float, shares: dict[str, float],
                        kwh: float, hydro_share: float) -> list[dict[str, Any]]:
        fuels = self.factors.fuels
        entries = []

        def add(source: str, quantity: float, unit: str, moisture: float | None = None,
                density: float | None = None) -> None:
            entries.append(dict(source=source, quantity=quantity, unit=unit, moisture_fraction=moisture,
                                density_kg_m3=density))

        wood_mj = fuel_mj * (1.0 - sum(shares.values()))
        moisture = round(rng.uniform(*FIREWOOD_MOISTURE), 2)
        # The NCV the inventory will use: the factor's (IPCC default, issue 14), moisture-corrected only
        # for a version that carries a dry NCV.
        wood = fuels["firewood"]
        wood_kg = wood_mj / (firewood_ncv_mj_per_kg(moisture, wood.dry_ncv_mj_per_kg) if wood.dry_ncv_mj_per_kg
                             else wood.ncv_mj_per_kg)
        if plan.code in self.firewood_m3:
            add("firewood", round(wood_kg / plan.firewood_density, 1), "m3", moisture, plan.firewood_density)
        else:
            add("firewood", round(wood_kg, -1), "kg", moisture)
        if "briquettes" in shares:
            add("briquettes", round(fuel_mj * shares["briquettes"] / fuels["briquettes"].ncv_mj_per_kg, -1), "kg")
        diesel = fuels["diesel"]
        add("diesel", round(fuel_mj * shares["diesel"] / (diesel.ncv_mj_per_kg * diesel.density_kg_per_l)), "L")
        if "furnace_oil" in shares:
            fo = fuels["furnace_oil"]
            add("furnace_oil", round(fuel_mj * shares["furnace_oil"] / (fo.ncv_mj_per_kg * fo.density_kg_per_l)), "L")
        if "lpg" in shares:
            add("lpg", round(fuel_mj * shares["lpg"] / fuels["lpg"].ncv_mj_per_kg), "kg")
        add("grid_electricity", round(kwh * (1.0 - hydro_share)), "kWh")
        if hydro_share:
            add("own_hydro", round(kwh * hydro_share), "kWh")
        return entries

    def _plan_stacks(self, plan: _FactoryPlan, rng: random.Random) -> None:
        n = 2 if plan.code in self.two_stacks else 1
        shares = [1.0] if n == 1 else [s := rng.uniform(0.6, 0.7), 1.0 - s]
        peak_month_kg_s = max(m.measured_co2_kg / (30.5 * 86400) for m in plan.months)
        for i, share in enumerate(shares, start=1):
            st = _StackPlan(
                name=f"Boiler {i} chimney",
                share=share,
                diameter_m=0.0,
                moisture_fraction=round(rng.uniform(*FLUE_MOISTURE), 3),
                dry_basis=rng.random() < 0.12,  # a few extractive analysers with a chiller
                profile=round(rng.uniform(*PROFILE_FACTOR), 3),
                device_id=f"{plan.code}-S{i}",
                firmware=rng.choice(FIRMWARE_VERSIONS),
            )
            # Full load: the busiest month's mean flow at the daytime profile peak.
            st.peak_kg_s = peak_month_kg_s * share * 1.2
            ppm_full, temp_full = self._ppm_temp(st, 1.0)
            per_v_d2 = stack_co2_kg_s(ppm_full, temp_full, 1.0, 1.0, plan.pressure_pa, st.moisture_fraction,
                                      st.dry_basis, st.profile)
            d = math.sqrt(st.peak_kg_s / (per_v_d2 * DESIGN_VELOCITY_M_S))
            st.diameter_m = round(min(max(d, STACK_DIAMETER_M[0]), STACK_DIAMETER_M[1]), 2)
            plan.stacks.append(st)

    @staticmethod
    def _ppm_temp(st: _StackPlan, load: float) -> tuple[float, float]:
        """Analyser CO2 ppm and flue temperature at a boiler load (demo engineering estimate).

        Wet CO2 from 4.5 % at idle to 11 % at full load (dry wood flue gas at 6–10 % O2 is 10–14 %,
        domain.md §1.5); temperature 160–240 °C (§1.5: 180–300 °C at load).
        """
        load = min(max(load, 0.05), 1.3)
        wet_ppm = (4.5 + 6.5 * load) * 1e4
        ppm = wet_ppm / (1.0 - st.moisture_fraction) if st.dry_basis else wet_ppm
        return ppm, 160.0 + 80.0 * load

    def _plan_gaps(self, plan: _FactoryPlan) -> None:
        rng = self._rng("gaps", plan.code)
        start, _ = local_month_bounds_utc(self.months[0], self.tz)
        span_h = int((self.live_start - start).total_seconds() // 3600) - 48
        for k in range(rng.randint(2, 4)):
            length = rng.randint(2, 36) if k else rng.randint(24, 48)  # one outage of a day or two
            first = start + timedelta(hours=rng.randrange(0, span_h))
            plan.gap_hours.update(first + timedelta(hours=h) for h in range(length))

    def _intensity(self, plan: _FactoryPlan) -> float:
        """Scope 1 + 2 kg CO2e per kg made tea over the complete months (as core.inventory.monthly does)."""
        total = tea = 0.0
        for m in plan.months[:-1]:
            for e in m.entries:
                if e["source"] in self.factors.fuels:
                    total += fuel_emissions(e["source"], e["quantity"], e["unit"], self.factors.fuels,
                                            moisture_fraction=e["moisture_fraction"],
                                            density_kg_m3=e["density_kg_m3"]).co2e_kg
                elif e["source"] == "grid_electricity":
                    total += e["quantity"] * self.factors.grid_kg_co2_per_kwh
            tea += m.made_tea_kg
        return total / tea

    # -- writing ----------------------------------------------------------------------------

    def run(self) -> dict[str, int]:
        plans = self.plan()
        self._write_registry(plans)
        users = self._write_users()
        self._write_submissions(plans, users)
        for plan in plans:
            self._write_history(plan)
        self.counts["factories"] = len(plans)
        return self.counts

    def _write_registry(self, plans: list[_FactoryPlan]) -> None:
        s = self.s
        created = self.now - timedelta(days=400)
        _insert(s, Factory.__table__, [
            dict(code=p.code, name=p.name, region=p.region, county=p.county, latitude=p.latitude,
                 longitude=p.longitude, altitude_m=p.altitude_m, target_kg_co2e_per_kg=p.target,
                 firewood_density_kg_m3=p.firewood_density, active=True, created_at=created)
            for p in plans
        ])
        ids = dict(s.execute(sa.select(Factory.code, Factory.id)).all())
        stack_rows = []
        for p in plans:
            p.id = ids[p.code]
            for st in p.stacks:
                stack_rows.append(dict(factory_id=p.id, name=st.name, diameter_m=st.diameter_m,
                                       moisture_fraction=st.moisture_fraction, dry_basis=st.dry_basis,
                                       velocity_profile_factor=st.profile, updated_at=created))
        _insert(s, Stack.__table__, stack_rows)
        stack_ids = {(fid, name): sid for sid, fid, name in s.execute(sa.select(Stack.id, Stack.factory_id, Stack.name))}
        for p in plans:
            for st in p.stacks:
                st.id = stack_ids[(p.id, st.name)]
        # Device status fields are filled after the history is written (last reading etc.).
        _insert(s, Device.__table__, [
            dict(id=st.device_id, factory_id=p.id, stack_id=st.id, sample_interval_s=SAMPLE_INTERVAL_S,
                 firmware=st.firmware, status="unknown", active=True)
            for p in plans for st in p.stacks
        ])
        self.counts["devices"] = len(stack_rows)

    def _write_users(self) -> dict[str, User]:
        users = {}
        loaded = set(self.s.scalars(sa.select(Factory.code)))
        # Someone may have created users (e.g. an admin) before loading the demo: keep them as
        # they are, with their own passwords, rather than fail.
        existing = {u.username: u for u in self.s.scalars(sa.select(User))}
        created = 0
        for username, password, role, factory, full_name in DEMO_USERS:
            if factory is not None and factory not in loaded:
                continue  # a partial load (tests) without this manager's factory
            if username in existing:
                users[username] = existing[username]
                continue
            users[username] = create_user(self.s, username, password, role, factory, full_name)
            created += 1
        self.counts["users"] = created
        return users

    def _write_submissions(self, plans: list[_FactoryPlan], users: dict[str, User]) -> None:
        s, tz = self.s, self.tz
        managers = {u.factory_id: u for u in users.values() if u.role == ROLE_FACTORY_MANAGER}
        approver = next((u for u in users.values() if u.role == ROLE_HQ), None) or users["admin"]
        complete = self.months[:-1]
        subs, meta = [], []
        for p in plans:
            rng = self._rng("submissions", p.code)
            skip: set[date] = set()
            if p.code in self.missing:
                # One or two months never reported (not the oldest, so the history starts full).
                skip = set(rng.sample(complete[1:], rng.randint(1, 2)))
            for i, m in enumerate(p.months[:-1]):
                if m.month in skip:
                    continue
                next_month = add_months(m.month, 1)
                late = rng.random() < (0.35 if p.code in self.late else 0.03)
                day = rng.randint(11, 24) if late else rng.randint(2, 9)
                local = datetime(next_month.year, next_month.month, day, rng.randint(8, 17), rng.randint(0, 59),
                                 tzinfo=tz)
                submitted_at = local.astimezone(UTC)
                last = i == len(complete) - 1
                status = STATUS_APPROVED
                approved_at = submitted_at + timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 8))
                if last:
                    status = STATUS_SUBMITTED if rng.random() < 0.65 else STATUS_DRAFT
                if submitted_at > self.now:
                    status = STATUS_DRAFT
                if status == STATUS_APPROVED and approved_at > self.now:
                    status = STATUS_SUBMITTED
                manager = managers.get(p.id)
                subs.append(dict(
                    factory_id=p.id, month=m.month, green_leaf_kg=m.green_leaf_kg, made_tea_kg=m.made_tea_kg,
                    status=status, note=None,
                    submitted_at=None if status == STATUS_DRAFT else submitted_at,
                    submitted_by_id=manager.id if manager and status != STATUS_DRAFT else None,
                    approved_at=approved_at if status == STATUS_APPROVED else None,
                    approved_by_id=approver.id if status == STATUS_APPROVED else None,
                    updated_at=approved_at if status == STATUS_APPROVED else (
                        submitted_at if status == STATUS_SUBMITTED else self.now),
                ))
                meta.append((p, m))
        _insert(s, MonthlySubmission.__table__, subs)
        sub_ids = {(fid, mon): sid for sid, fid, mon in
                   s.execute(sa.select(MonthlySubmission.id, MonthlySubmission.factory_id, MonthlySubmission.month))}
        entries, audit = [], []
        for row, (p, m) in zip(subs, meta, strict=True):
            sid = sub_ids[(p.id, m.month)]
            for e in m.entries:
                entries.append(dict(submission_id=sid, updated_at=row["updated_at"], **e))
            manager = managers.get(p.id)
            if row["submitted_at"] is not None:
                audit.append(dict(at=row["submitted_at"], user_id=manager.id if manager else None,
                                  username=manager.username if manager else f"{p.code.lower()}-manager",
                                  action="submit", entity="monthly_submission", entity_id=str(sid),
                                  factory_id=p.id, field="status", old_value=STATUS_DRAFT,
                                  new_value=STATUS_SUBMITTED, detail=f"{m.month:%Y-%m} (demo data)"))
            if row["approved_at"] is not None:
                audit.append(dict(at=row["approved_at"], user_id=approver.id, username=approver.username,
                                  action="approve", entity="monthly_submission", entity_id=str(sid),
                                  factory_id=p.id, field="status", old_value=STATUS_SUBMITTED,
                                  new_value=STATUS_APPROVED, detail=f"{m.month:%Y-%m} (demo data)"))
        _insert(s, EnergyEntry.__table__, entries)
        audit.sort(key=lambda r: r["at"])
        _insert(s, AuditLog.__table__, audit)
        self.counts["submissions"] = len(subs)

    def _write_history(self, plan: _FactoryPlan) -> None:
        """Hourly/daily rollups per device and factory for 13 months, and the live-window readings."""
        rng = self._rng("history", plan.code)
        dev_hourly: list[dict[str, Any]] = []
        readings: list[dict[str, Any]] = []
        device_status: list[dict[str, Any]] = []
        for st in plan.stacks:
            offline_at = None
            if st.device_id in self.offline:
                offline_at = self.now - timedelta(minutes=rng.randint(90, 270))
            rows, live, last_ts, seq = self._device_hours(plan, st, rng, offline_at)
            dev_hourly.extend(rows)
            readings.extend(live)
            booted = self.now - timedelta(days=rng.randint(3, 60), minutes=rng.randint(0, 999))
            device_status.append(dict(
                id=st.device_id,
                status="offline" if offline_at else "online",
                status_changed_at=offline_at or booted,
                last_seen_at=last_ts, last_reading_at=last_ts, rssi_dbm=rng.randint(-82, -55),
                uptime_s=int((last_ts - booted).total_seconds()) if last_ts else None,
                buffered=0, last_seq=seq,
            ))
        day_of = self._day_of_hour
        dev_daily = _sum_by(dev_hourly, lambda r: (r["device_id"], day_of(r["hour"])),
                            lambda k, r: dict(device_id=k[0], day=k[1], factory_id=r["factory_id"]))
        fac_hourly = _sum_by(dev_hourly, lambda r: r["hour"], lambda k, r: dict(factory_id=plan.id, hour=k))
        fac_daily = _sum_by(fac_hourly, lambda r: day_of(r["hour"]), lambda k, r: dict(factory_id=plan.id, day=k))
        s = self.s
        _insert(s, DeviceHourly.__table__, dev_hourly)
        _insert(s, FactoryHourly.__table__, fac_hourly)
        _insert(s, DeviceDaily.__table__, dev_daily)
        _insert(s, FactoryDaily.__table__, fac_daily)
        _insert(s, Reading.__table__, readings)
        for status in device_status:
            device_id = status.pop("id")
            s.execute(Device.__table__.update().where(Device.__table__.c.id == device_id).values(**status))
        self.counts["hourly"] += len(dev_hourly) + len(fac_hourly)
        self.counts["daily"] += len(dev_daily) + len(fac_daily)
        self.counts["readings"] += len(readings)

    def _day_of_hour(self, hour: datetime) -> date:
        """The local day of a UTC hour (cached: the same ~9,500 hours recur for every device)."""
        day = self._days.get(hour)
        if day is None:
            day = self._days[hour] = local_date(hour, self.tz)
        return day

    def _device_hours(self, plan: _FactoryPlan, st: _StackPlan, rng: random.Random, offline_at: datetime | None):  # noqa: ANN202
        """Hourly rollup rows of one device, plus its raw readings in the live window."""
        tz, P = self.tz, plan.pressure_pa
        rows: list[dict[str, Any]] = []
        readings: list[dict[str, Any]] = []
        seq = rng.randint(1000, 50000)
        last_ts = None
        offset_s = rng.randint(0, 59)  # nodes do not all publish on the minute
        hours_per_day = len(HOUR_PROFILE)
        for mp in plan.months:
            start, end = local_month_bounds_utc(mp.month, tz)
            n_days = round((end - start).total_seconds() / 86400)
            drng = self._rng("days", plan.code, mp.month)
            day_weight = [drng.uniform(0.8, 1.15) for _ in range(n_days)]
            # kg CO2 per unit weight: the month's stack CO2 spread over days × hour profile.
            scale = mp.measured_co2_kg * st.share / (sum(day_weight) * HOUR_PROFILE_SUM)
            hour = start
            while hour < end and hour <= self.now:
                if offline_at is not None and hour > offline_at:
                    break
                local = hour.astimezone(tz)
                day_index = (local.date() - mp.month).days
                target_kg_s = scale * day_weight[day_index] * HOUR_PROFILE[local.hour % hours_per_day] * \
                    rng.uniform(0.92, 1.08) / 3600.0
                if hour >= self.live_start:
                    row, live = self._live_hour(plan, st, rng, hour, target_kg_s, offset_s, seq, offline_at)
                    if live:
                        seq += len(live)
                        last_ts = live[-1]["ts"]
                        readings.extend(live)
                        rows.append(row)
                elif hour not in plan.gap_hours:
                    rows.append(self._history_hour(plan.id, st, rng, hour, target_kg_s, P))
                hour += timedelta(hours=1)
        return rows, readings, last_ts, seq

    def _history_hour(self, factory_id: int, st: _StackPlan, rng: random.Random, hour: datetime,
                      target_kg_s: float, pressure_pa: float) -> dict[str, Any]:
        n = READINGS_PER_HOUR
        r = rng.random()
        if r < 0.015:
            n -= rng.randint(5, 30)  # a short network drop inside the hour
        n_valid = n - rng.randint(1, 3) if r > 0.99 else n  # a few readings out of physical range
        ppm, temp = self._ppm_temp(st, target_kg_s / st.peak_kg_s)
        ppm *= rng.uniform(0.97, 1.03)
        temp += rng.uniform(-4.0, 4.0)
        per_v = stack_co2_kg_s(ppm, temp, 1.0, st.diameter_m, pressure_pa, st.moisture_fraction,
                               st.dry_basis, st.profile)
        velocity = target_kg_s / per_v
        kg_s = stack_co2_kg_s(ppm, temp, velocity, st.diameter_m, pressure_pa, st.moisture_fraction,
                              st.dry_basis, st.profile)
        return dict(
            device_id=st.device_id, hour=hour, factory_id=factory_id, n_readings=n, n_valid=n_valid,
            covered_s=n_valid * SAMPLE_INTERVAL_S, co2_kg=kg_s * n_valid * SAMPLE_INTERVAL_S,
            sum_co2_kg_s=kg_s * n_valid, sum_co2_ppm=ppm * n_valid, sum_flue_temp_c=temp * n_valid,
            sum_velocity_m_s=velocity * n_valid, max_co2_kg_s=kg_s * rng.uniform(1.04, 1.15),
        )

    def _live_hour(self, plan: _FactoryPlan, st: _StackPlan, rng: random.Random, hour: datetime,
                   target_kg_s: float, offset_s: int, seq: int, offline_at: datetime | None):  # noqa: ANN202
        """Raw readings of one hour in the live window and the rollup row computed from them."""
        ppm0, temp0 = self._ppm_temp(st, target_kg_s / st.peak_kg_s)
        per_v = stack_co2_kg_s(ppm0, temp0, 1.0, st.diameter_m, plan.pressure_pa, st.moisture_fraction,
                               st.dry_basis, st.profile)
        v0 = target_kg_s / per_v
        readings = []
        drift = 1.0
        for i in range(READINGS_PER_HOUR):
            ts = hour + timedelta(seconds=i * SAMPLE_INTERVAL_S + offset_s)
            if ts > self.now or (offline_at is not None and ts > offline_at):
                break
            drift = min(max(drift * rng.uniform(0.985, 1.015), 0.9), 1.1)
            ppm = round(ppm0 * drift * rng.uniform(0.98, 1.02), 1)
            temp = round(temp0 + rng.uniform(-1.5, 1.5), 1)
            vel = round(v0 * drift * rng.uniform(0.97, 1.03), 2)
            kg_s = stack_co2_kg_s(ppm, temp, vel, st.diameter_m, plan.pressure_pa, st.moisture_fraction,
                                  st.dry_basis, st.profile)
            seq += 1
            readings.append(dict(
                device_id=st.device_id, factory_id=plan.id, ts=ts, seq=seq, co2_ppm=ppm, flue_temp_c=temp,
                velocity_m_s=vel, pressure_pa=None, co2_kg_s=kg_s, quality=QUALITY_VALID, quality_reason=None,
                pressure_used_pa=plan.pressure_pa, diameter_m=st.diameter_m, moisture_fraction=st.moisture_fraction,
                dry_basis=st.dry_basis, velocity_profile_factor=st.profile,
                received_at=ts + timedelta(milliseconds=rng.randint(80, 900)),
            ))
        if not readings:
            return None, readings
        n = len(readings)
        row = dict(
            device_id=st.device_id, hour=hour, factory_id=plan.id, n_readings=n, n_valid=n,
            covered_s=n * SAMPLE_INTERVAL_S, co2_kg=sum(r["co2_kg_s"] for r in readings) * SAMPLE_INTERVAL_S,
            sum_co2_kg_s=sum(r["co2_kg_s"] for r in readings), sum_co2_ppm=sum(r["co2_ppm"] for r in readings),
            sum_flue_temp_c=sum(r["flue_temp_c"] for r in readings),
            sum_velocity_m_s=sum(r["velocity_m_s"] for r in readings),
            max_co2_kg_s=max(r["co2_kg_s"] for r in readings),
        )
        return row, readings


_SUM_FIELDS = ("n_readings", "n_valid", "covered_s", "co2_kg", "sum_co2_kg_s", "sum_co2_ppm", "sum_flue_temp_c",
               "sum_velocity_m_s")


def _sum_by(rows: list[dict[str, Any]], key, make) -> list[dict[str, Any]]:  # noqa: ANN001
    """Merge rollup rows by `key` (additive sums, max of maxima), in first-seen order."""
    out: dict[Any, dict[str, Any]] = {}
    for r in rows:
        k = key(r)
        acc = out.get(k)
        if acc is None:
            acc = make(k, r)
            for f in _SUM_FIELDS:
                acc[f] = r[f]
            acc["max_co2_kg_s"] = r["max_co2_kg_s"]
            out[k] = acc
        else:
            for f in _SUM_FIELDS:
                acc[f] += r[f]
            acc["max_co2_kg_s"] = max(acc["max_co2_kg_s"], r["max_co2_kg_s"])
    return list(out.values())


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_converter(col_type: sa.types.TypeEngine):  # noqa: ANN202
    """How a column type renders a (non-None) value in PostgreSQL COPY text format."""
    if isinstance(col_type, UTCDateTime | sa.DateTime):
        return _sqlite_datetime  # ISO text, naive UTC: what the timestamp column expects
    if isinstance(col_type, sa.Boolean):
        return lambda v: "t" if v else "f"
    if isinstance(col_type, sa.String | sa.Text):
        return lambda v: str(v).translate(_COPY_ESCAPES)
    return str  # numbers and dates (str of a float round-trips exactly)


def _copy_lines(table: sa.Table, cols: list[str], rows: list[dict[str, Any]]) -> Iterator[str]:
    """Rows as lines of PostgreSQL COPY text format (tab-separated, \\N for NULL)."""
    converters = [_copy_converter(table.c[c].type) for c in cols]
    spec = list(zip(cols, converters, strict=True))
    for r in rows:
        yield "\t".join("\\N" if (v := r[c]) is None else f(v) for c, f in spec) + "\n"


def _insert(session: Session, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Bulk-insert `rows` (dicts with the same keys): COPY on PostgreSQL, DBAPI executemany on SQLite.

    Both skip SQLAlchemy's per-row parameter processing, which is most of the load time for
    1.4 million rows; values are rendered the way the column types would store them.
    """
    if not rows:
        return
    conn = session.connection()
    cols = list(rows[0])
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    column_list = ", ".join(quote(c) for c in cols)
    if dialect.name == "postgresql" and dialect.driver == "psycopg2":
        buf = io.StringIO()
        buf.writelines(_copy_lines(table, cols, rows))
        buf.seek(0)
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.copy_expert(f"COPY {quote(table.name)} ({column_list}) FROM STDIN", buf)
        finally:
            cursor.close()
    elif dialect.name == "sqlite":
        get = operator.itemgetter(*cols) if len(cols) > 1 else (lambda r: (r[cols[0]],))
        convert = [(i, f) for i, f in enumerate(_sqlite_converter(table.c[c].type) for c in cols) if f]
        data: list[Any] = []
        for r in rows:
            values = list(get(r))
            for i, f in convert:
                if values[i] is not None:
                    values[i] = f(values[i])
            data.append(tuple(values))
        conn.exec_driver_sql(
            f"INSERT INTO {quote(table.name)} ({column_list}) VALUES ({', '.join('?' * len(cols))})", data
        )
    else:
        conn.execute(table.insert(), rows)


_SQLITE_DATETIMES: dict[datetime, str] = {}


def _sqlite_datetime(value: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME storage format (naive UTC, always with microseconds)."""
    text = _SQLITE_DATETIMES.get(value)
    if text is None:
        text = as_utc(value).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        if len(_SQLITE_DATETIMES) < 50_000:  # the ~9,500 rollup hours recur for every device
            _SQLITE_DATETIMES[value] = text
    return text


def _sqlite_converter(col_type: sa.types.TypeEngine):  # noqa: ANN202
    """How a column type stores a Python value in SQLite (None: as is)."""
    if isinstance(col_type, UTCDateTime | sa.DateTime):
        return _sqlite_datetime
    if isinstance(col_type, sa.Date):
        return date.isoformat
    if isinstance(col_type, sa.Boolean):
        return int
    return None
