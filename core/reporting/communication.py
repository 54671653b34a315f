"""The `Summary_Communication` sheet: a fixed-column table in the field order of the EU CBAM template.

Every row has the same six columns (`COMMUNICATION_COLUMNS`: Section, Ref, Field, Value, Unit,
Note), one template field per row, in the order of the template for installations
(`../shared/reference/cbam_template.md`): A.1 reporting period, A.2 installation, A.3 verifier,
A.4 goods and processes, B.3 measurement-based sources, C.2 GHG balance, D production and
electricity, Summary_Products (SEE), emissions by methodology, C.3 methods and data quality, F.2
carbon price, additional information, contact, verification. An importer's tool reads a field by
its name in column C and its value in column D. Figures follow CBAM rules (CO2 only; biomass
zero-rated only under a valid supplier declaration). A figure that is not known is blank, never 0.
Used by the monthly, quarterly and annual factory workbooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from openpyxl import Workbook

from core.inventory.factors import FactorSet
from core.reporting.month_data import FactorInfo
from core.reporting.period_data import BASIS_ESTIMATE, FactoryPeriod
from core.reporting.xlsx import FMT_DATE, FMT_SEE, size_columns, table, title, wrap_column

SHEET_COMMUNICATION = "Summary_Communication"  # exact: vendor platforms reject any other name
COMMUNICATION_COLUMNS = ("Section", "Ref", "Field", "Value", "Unit", "Note")
NOT_RECORDED = "not recorded in Carbon Track"
PRODUCT_NAME = "Black tea (made tea)"
CN_CODE = "0902"
COUNTRY = "Kenya"
PRODUCTION_PROCESS = "P1 Tea manufacture (withering, CTC/rolling, fermentation, drying, sorting)"
DISCLOSURE = (
    "Tea (HS/CN 0902) is not a CBAM good (Regulation (EU) 2023/956, Annex I covers cement, iron and "
    "steel, aluminium, fertilisers, electricity and hydrogen). This workbook is a voluntary disclosure "
    "shaped on the EU CBAM communication template, shown next to GHG Protocol Corporate Standard figures."
)


def _t(kg: float | None) -> float | None:
    return None if kg is None else kg / 1000.0


def _total(fp: FactoryPeriod, attr: str, reported_only: bool = False) -> float | None:
    """Σ of an attribute over the months that have it; None (blank) when no month has it."""
    values = [getattr(m, attr) for m in fp.months
              if getattr(m, attr) is not None and (not reported_only or m.basis == "reported")]
    return sum(values) if values else None


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or not den else num / den


def communication_rows(fp: FactoryPeriod, start: date, end: date, factors: FactorSet,
                       factor_info: dict[str, FactorInfo], basis: str,
                       verification: str | None = None, stacks: Sequence[Any] | None = None) -> list[Sequence[Any]]:
    """The table's rows in the template's order, for one factory over [start, end].

    `stacks` (month_data.StackFigures, monthly workbooks) fill the B.3 concentration and flue-gas rows.
    """
    n_valid = sum(st.n_valid for st in stacks) if stacks else 0
    conc = sum(st.sum_co2_ppm for st in stacks) / n_valid / 10_000.0 if n_valid else None
    flows = [st.flue_gas_nm3 for st in stacks if st.flue_gas_nm3 is not None] if stacks else []
    b3_note = None if stacks is not None else "per month in the monthly workbooks (B3_Measured)"
    grid = factor_info.get(factors.grid_code)
    tea = _total(fp, "made_tea_kg", reported_only=True)
    tea_t = _t(tea) if tea else None
    grid_kwh, own_kwh = _total(fp, "grid_kwh", True), _total(fp, "own_renewable_kwh", True)
    mwh = None if grid_kwh is None else (grid_kwh + (own_kwh or 0.0)) / 1000.0
    direct = _total(fp, "cbam_direct_co2_kg")
    indirect = _total(fp, "cbam_indirect_kg")
    estimated = sum(m.cbam_direct_co2_kg or 0.0 for m in fp.months if m.basis == BASIS_ESTIMATE)
    missing = "" if direct is not None else "MISSING: no energy data (blank, not zero)"
    nr = NOT_RECORDED
    a2, a3, a4 = "A.2 About the installation", "A.3 Verifier of the report", "A.4 Goods and production processes"
    return [
        ("A.1 Reporting period", "A.1", "Start", start, None, None),
        ("A.1 Reporting period", "A.1", "End", end, None, None),
        (a2, "A.2", "Name of the installation (local language)", None, None, "optional"),
        (a2, "A.2", "Name of the installation (English)", fp.name, None, None),
        (a2, "A.2", "Street, number", None, None, nr),
        (a2, "A.2", "Economic activity", "Tea processing: manufacture of black (CTC) tea", None, None),
        (a2, "A.2", "Post code", None, None, nr),
        (a2, "A.2", "P.O. Box", None, None, nr),
        (a2, "A.2", "City", fp.county, None, "county"),
        (a2, "A.2", "Country", COUNTRY, None, None),
        (a2, "A.2", "UN/LOCODE", None, None, nr),
        (a2, "A.2", "Latitude of the main emission source", fp.latitude, "decimal degrees", None),
        (a2, "A.2", "Longitude of the main emission source", fp.longitude, "decimal degrees", None),
        (a2, "A.2", "Authorised representative: name", None, None, nr),
        (a2, "A.2", "Authorised representative: email", None, None, nr),
        (a2, "A.2", "Authorised representative: telephone", None, None, nr),
        (a3, "A.3", "Company name", None, None, "optional in the transitional period"),
        (a3, "A.3", "Street, number", None, None, None),
        (a3, "A.3", "City", None, None, None),
        (a3, "A.3", "Post code", None, None, None),
        (a3, "A.3", "Country", None, None, None),
        (a3, "A.3", "Authorised representative: name", None, None, None),
        (a3, "A.3", "Authorised representative: email", None, None, None),
        (a3, "A.3", "Authorised representative: telephone", None, None, None),
        (a3, "A.3", "Authorised representative: fax", None, None, None),
        (a3, "A.3", "Accreditation member state", None, None, None),
        (a3, "A.3", "Accreditation body", None, None, None),
        (a3, "A.3", "Registration number", None, None, None),
        (a4, "A.4(a)", "Aggregated goods category", "Not a CBAM goods category (voluntary disclosure)", None, None),
        (a4, "A.4(a)", "Production route", "Black tea, CTC", None, None),
        (a4, "A.4(b)", "Production process", PRODUCTION_PROCESS, None, None),
        ("B.3 Measurement-based sources", "B.3", "GHG", "CO2", None, "stack sensors; cross-check only"),
        ("B.3 Measurement-based sources", "B.3", "Measured CO2 (monitored hours)", _t(_total(fp, "measured_co2_kg")),
         "t CO2", "fossil + biogenic; a stack sensor cannot tell them apart"),
        ("B.3 Measurement-based sources", "B.3", "CO2 concentration (mean of valid readings)", conc, "% vol",
         b3_note),
        ("B.3 Measurement-based sources", "B.3", "Flue-gas flow (monitored hours, normal conditions, wet)",
         sum(flows) if flows else None, "Nm3", b3_note),
        ("B.3 Measurement-based sources", "B.3", "Operating hours (valid sensor-hours)",
         (_total(fp, "measured_covered_s") or 0.0) / 3600.0, "h", None),
        ("C.2 GHG balance", "C.2", "Total CO2", _t(direct), "t CO2",
         missing or "fossil + biomass without a valid declaration"),
        ("C.2 GHG balance", "C.2", "Biomass emissions", _t(_total(fp, "biomass_co2_declared_kg", True)), "t CO2",
         missing or "zero-rated (valid declaration)"),
        ("C.2 GHG balance", "C.2", "N2O", _t(_total(fp, "n2o_co2e_kg", True)), "t CO2e",
         missing or "not counted under CBAM for these goods"),
        ("C.2 GHG balance", "C.2", "PFC", 0.0, "t CO2e", "no PFC sources"),
        ("C.2 GHG balance", "C.2", "Total direct emissions", _t(direct), "t CO2", missing or None),
        ("C.2 GHG balance", "C.2", "Total indirect emissions", _t(indirect), "t CO2", missing or None),
        ("D Production", "D(a)", "Total production within installation (activity level)", tea_t, "t", "made tea"),
        ("D Production", "D", "Directly attributable emissions", _t(direct), "t CO2", missing or None),
        ("D Production", "D", "Electricity consumption", mwh, "MWh", missing or "grid + own hydro/solar"),
        ("D Production", "D", "Electricity emission factor", factors.grid_kg_co2_per_kwh, "t CO2 / MWh", None),
        ("D Production", "D", "Source of the electricity emission factor",
         grid.reference if grid else factors.grid_code, None, None),
        ("Summary_Products", "SP", "CN code", CN_CODE, None, "not a CBAM good"),
        ("Summary_Products", "SP", "Product name", PRODUCT_NAME, None, None),
        ("Summary_Products", "SP", "SEE direct", _ratio(direct, tea), "t CO2 / t", "CBAM rules"),
        ("Summary_Products", "SP", "SEE indirect", _ratio(indirect, tea), "t CO2 / t", "CBAM rules"),
        ("Summary_Products", "SP", "SEE total", _ratio(None if direct is None else direct + (indirect or 0.0), tea),
         "t CO2 / t", "CBAM rules"),
        ("Summary_Products", "SP", "Electricity consumption per tonne", _ratio(mwh, tea_t), "MWh / t",
         "grid + own hydro/solar"),
        ("Summary_Products", "SP", "Share of default values", _ratio(estimated, direct) if direct else None,
         "share of direct emissions", "no EU default values exist for tea; the share is that of estimated months"),
        ("Emissions by methodology", "SC", "Calculation-based (excl. PFC)", _t(direct), "t CO2",
         missing or "fuel log x IPCC 2006 factors; CO2 only"),
        ("Emissions by methodology", "SC", "PFC emissions", 0.0, "t CO2e", None),
        ("Emissions by methodology", "SC", "Measurement-based", None, "t CO2",
         "not used: stack sensors are a cross-check (B.3)"),
        ("Emissions by methodology", "SC", "Other", 0.0, "t CO2", None),
        ("C.3 Methods and data quality", "C.3", "General data-quality approach",
         "Fuel log with IPCC 2006 default factors; stack sensors as cross-check", None, None),
        ("C.3 Methods and data quality", "C.3", "Justification", basis, None, None),
        ("C.3 Methods and data quality", "C.3", "Quality assurance / verification approach",
         "Monthly data entered by the factory and approved by KTDA HQ", None, None),
        ("F.2 Carbon price due", "F.2", "Carbon price due", "None", None, "no carbon price paid on these emissions"),
        ("Additional information", "SC", "Additional information", DISCLOSURE, None, None),
        ("Contact", "SC", "Contact", "KTDA Carbon Track programme", None, None),
        ("Verification", "A.3", "Verification statement", verification or "not verified", None, None),
    ]


def write_communication(wb: Workbook, rows: list[Sequence[Any]]) -> None:
    """Add the Summary_Communication sheet with `rows` under the fixed columns."""
    ws = wb.create_sheet(SHEET_COMMUNICATION)
    row = title(ws, "Summary_Communication", "Fixed-column table (headers in English) in the field order of the EU "
                "CBAM communication template for installations; CBAM-rule figures. " + DISCLOSURE)
    header_row, _ = table(ws, row, list(COMMUNICATION_COLUMNS), rows)
    for r, values in enumerate(rows, start=header_row + 1):
        value, unit = values[3], values[4] or ""
        if isinstance(value, float):
            ws.cell(r, 4).number_format = FMT_SEE if unit.endswith("/ t") else "#,##0.000###"
        elif isinstance(value, date):
            ws.cell(r, 4).number_format = FMT_DATE
    size_columns(ws)
    wrap_column(ws, 4, 50)
