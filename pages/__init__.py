"""Dash pages: one module per page (dash.register_page + layout(**kwargs)).

Web layer. A page module builds its layout only; it may import `callbacks` (figure builders,
option lists) and `core`, never `mqtt_listener`, `api` or `carbontrack` (setup.cfg contract).
"""
