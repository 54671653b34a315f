"""Dash callbacks grouped by page; each module's `register(app)` attaches them to one app."""
