"""MQTT ingest: topics, payload decoding and validation, batch writer, device status.

Public API: `Listener` (mqtt_listener.client), `decode_telemetry` (mqtt_listener.decode),
`EmbeddedBroker` (mqtt_listener.broker), `start_simulator` (mqtt_listener.simulator).
`python -m mqtt_listener` runs one listener process until SIGTERM.

Ingest layer, beside the web and the API: it may import `core` (kernel, `core.measurement` for
rollups, `core.fleet` for the online rule), never `pages`, `callbacks`, `api` or `carbontrack`.
"""

from mqtt_listener.client import Listener

__all__ = ["Listener"]
