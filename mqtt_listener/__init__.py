"""MQTT ingest: topics, payload decoding and validation, batch writer, device status.

Public API: `Listener` (mqtt_listener.client), `decode_telemetry` (mqtt_listener.decode),
`EmbeddedBroker` (mqtt_listener.broker), `start_simulator` (mqtt_listener.simulator).
`python -m mqtt_listener` runs one listener process until SIGTERM.
"""

from mqtt_listener.client import Listener

__all__ = ["Listener"]
