"""Carbon Track core: domain and data, no Dash, no MQTT, no web.

At this root is the shared kernel every capability builds on: `config` (environment), `db`
(engine, sessions, migrations), `models` (the schema), `timeutil` (UTC storage, local days and
months), `access` (who may see which factory), `audit` (the audit log) and `emissions` (the pure
formulas of DESIGN.md's domain API). The kernel imports nothing else from `core`.

Below it, one subpackage per capability; each may import the kernel and the capabilities listed
under it in `setup.cfg`'s import-linter contract, never `dash`, `pages`, `callbacks`, `api`,
`mqtt_listener` or `carbontrack`:
- `inventory/`   emission factors, monthly energy entry, the monthly GHG inventory
- `measurement/` hourly and daily rollups of the stack readings
- `fleet/`       sensor nodes: the online/offline rule (later commands, OTA, quality)
- `accounts/`    users, passwords, sign-in
- `registry/`    admin changes to users, factories, stacks, devices and factor versions
- `insights/`    dashboard queries (overview, leaderboard, history, node health)
- `reporting/`   compliance workbooks, their generation and the report scheduler
"""
