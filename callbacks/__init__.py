"""Dash callbacks grouped by page; each module's `register(app)` attaches them to one app.

Web layer, below `pages`: callbacks read inputs, call `core` and build figures with pure
functions. They may import `core` only, never `pages`, `mqtt_listener`, `api` or `carbontrack`.
"""
