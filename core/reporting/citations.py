"""Primary sources (document, table, edition) for every factor and constant a workbook uses.

A verifier checks a factor against its primary document, not against internal notes, so every
factor row and workbook note cites the document, its table and its edition. Factors added later
by an administrator (unknown codes) show the citation stored with their row.
"""

from __future__ import annotations

IPCC_2006_FUEL = (
    "IPCC (2006), 2006 IPCC Guidelines for National Greenhouse Gas Inventories, Vol. 2 Energy, IGES: "
    "NCV Ch. 1 Table 1.2; CO2 emission factor Ch. 1 Table 1.4; CH4 and N2O Ch. 2 Table 2.3 "
    "(manufacturing industries and construction); oxidation factor 1 (Ch. 1 §1.4.2.1)"
)
IFI_GRID = (
    "IFI Technical Working Group on GHG Accounting (2021), Harmonized IFI Default Grid Factors 2021 v3.1 "
    "(published by UNFCCC), Kenya row"
)

PRIMARY_CITATIONS: dict[str, str] = {
    "diesel": IPCC_2006_FUEL + " - Gas/Diesel Oil",
    "furnace_oil": IPCC_2006_FUEL + " - Residual Fuel Oil",
    "lpg": IPCC_2006_FUEL + " - Liquefied Petroleum Gases",
    "firewood": IPCC_2006_FUEL + " - Wood/Wood Waste (default NCV 15.6 TJ/Gg, lower 7.9, upper 31.0); a "
                "laboratory NCV of a fuel lot replaces the default for that lot, converted to the logged moisture "
                "with ISO 18125:2017 (NCV_ar = NCV_dry (1 - w) - 2.443 w)",
    "briquettes": IPCC_2006_FUEL + " - Other Primary Solid Biomass",
    "charcoal": IPCC_2006_FUEL + " - Charcoal",
    "grid_ke_average": "Ember (2025), Yearly Electricity Data, Kenya 2024: generation-average CO2 intensity "
                       "84.83 g CO2/kWh (location-based; GHG Protocol Scope 2 Guidance, 2015, Ch. 6)",
    "grid_ke_ifi_cm": IFI_GRID + ", combined margin",
    "grid_ke_ifi_om": IFI_GRID + ", operating margin",
    "own_renewable": "GHG Protocol Scope 2 Guidance (WRI/WBCSD, 2015), Ch. 5: electricity generated and consumed "
                     "on site from hydro or solar has no Scope 2 emissions",
}

GWP_CITATIONS: dict[str, str] = {
    "AR4": "IPCC AR4 WG1 (2007), Ch. 2 Table 2.14 (GWP-100)",
    "AR5": "IPCC AR5 WG1 (2013), Ch. 8 Table 8.A.1 (GWP-100, without climate-carbon feedback)",
    "AR6": "IPCC AR6 WG1 (2021), Ch. 7 Table 7.15 (GWP-100; CH4 non-fossil 27.0 used for biomass combustion)",
}

MRR_ROUNDING = "Commission Implementing Regulation (EU) 2018/2066 (MRR), Art. 72"
BIOGENIC_MEMO = (
    "IPCC (2006) Guidelines Vol. 2 Ch. 1 §1.2: CO2 from biomass combustion is reported as an information item, "
    "not in the energy total; GHG Protocol Corporate Standard (2004) Ch. 9: biogenic CO2 reported separately"
)
KTDA_BENCHMARK = (
    "KTDA / Energy and Environment Partnership / GIZ energy-efficiency programme, KTDA average specific energy "
    "2017 (29.76 MJ/kg made tea, down from 35.21 in 2013), as reported by The Standard (Kenya), 2018"
)


def primary_citation(code: str, stored: str) -> str:
    """The primary citation of a factor code; the stored citation for a code this module does not know."""
    return PRIMARY_CITATIONS.get(code, stored)


# Seed rows whose stored source names an internal note instead of a document (rows are never edited,
# so the report names the document here).
SOURCE_OVERRIDES: dict[str, str] = {
    "own_renewable": "GHG Protocol Scope 2 Guidance (WRI/WBCSD, 2015); self-generated share",
}


def primary_source(code: str, stored: str) -> str:
    """The source line of a factor: the stored one unless it names an internal note."""
    return SOURCE_OVERRIDES.get(code, stored)
