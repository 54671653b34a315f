"""Alerts: rules over fleet, measurement and inventory data; alert state; notifications to people.

`rules` turns the data into conditions, `state` keeps each alert's life (firing, acknowledged,
resolved, with who and when), `notify` sends email (SMTP) and SMS/WhatsApp (a pluggable sender)
to the people responsible, `jobs` runs it all from the scheduler exactly once across processes.
May import the core kernel, `core.fleet`, `core.inventory` and `core.measurement`.
"""
