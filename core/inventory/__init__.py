"""The fuel-based inventory: emission-factor versions, monthly energy entry and the monthly figures.

`factors` (the versioned factor library), `entry` (validation, draft, submit, approve, return),
`monthly` (the one place where a month's Scope 1/2, biogenic CO2, intensity and coverage are
made). May import the core kernel and `core.measurement`.
"""
