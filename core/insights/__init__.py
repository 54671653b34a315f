"""Dashboard queries for the portals: live, history, overview, leaderboard, node health.

Every query is scoped by `core.access`; dashboards read rollups and `core.inventory.monthly`,
never raw readings beyond the live window. May import the kernel, `inventory`, `measurement`
and `fleet`.
"""
