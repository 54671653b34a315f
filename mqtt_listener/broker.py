"""The embedded MQTT broker of the all-in-one default: amqtt on 127.0.0.1, a free port, own thread.

amqtt 0.12 speaks MQTT 3.1.1 only (an MQTT 5 CONNECT is dropped), so clients of this broker use
3.1.1; production uses Mosquitto/HiveMQ/EMQX through CARBONTRACK_MQTT_URL.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

from core.config import MqttUrl

log = logging.getLogger("mqtt_listener.broker")

# Username every client of the embedded broker sends (no password: it listens on loopback only).
EMBEDDED_USERNAME = "carbontrack"
# Seconds to wait for the broker's event loop to come up or shut down.
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedBroker:
    """An in-process amqtt broker running in its own thread and event loop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the embedded broker listens on loopback only")
        self.host = host
        self.port = port or _free_port(host)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> MqttUrl:
        """Where clients connect (MQTT 3.1.1, no TLS, a username and no password)."""
        return MqttUrl(self.host, self.port, username=EMBEDDED_USERNAME)

    def start(self) -> MqttUrl:
        """Start the broker and return its address once it accepts connections."""
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            raise RuntimeError("embedded broker did not start in time")
        if self._error is not None:
            raise RuntimeError(f"embedded broker failed to start: {self._error}") from self._error
        log.info("embedded MQTT broker (amqtt, MQTT 3.1.1) on %s:%d", self.host, self.port)
        return self.url

    def _run(self) -> None:
        from amqtt.broker import Broker

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            # Any client that names a user gets in (loopback only). Not "anonymous": amqtt queues QoS 1
            # messages for a disconnected persistent session only when it is not anonymous, and the
            # listener relies on that queue. (The default plugin set also logs every packet.)
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False}},
        }

        async def _start() -> None:
            self._broker = Broker(config, loop=loop)
            await self._broker.start()

        try:
            loop.run_until_complete(_start())
        except BaseException as exc:  # report to start(), then end the thread
            self._error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self) -> None:
        """Shut the broker down and end its thread."""
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or not loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
        try:
            future.result(STOP_TIMEOUT_S)
        except Exception as exc:
            log.warning("embedded broker shutdown: %s", exc)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
