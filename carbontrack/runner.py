"""`carbontrack run`: the all-in-one process (web + listener + scheduler + broker + simulated fleet).

With no CARBONTRACK_MQTT_URL it starts the embedded amqtt broker on a free loopback port; the
listener and the simulated nodes talk to it over real MQTT, so the demo exercises the same
ingest path as production. With an external broker the simulated fleet is not started (it would
publish under the real device ids); `carbontrack simulate` does that on purpose. The web app is served in a background thread; the main thread
waits for Ctrl-C or SIGTERM and then stops everything in reverse order.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable

from carbontrack.demo import DEMO_USERS
from core.config import Config
from core.db import open_database

log = logging.getLogger("carbontrack.run")



def _init_db(cfg: Config) -> None:
    from carbontrack.bootstrap import init_database

    log.info("database: %s", init_database(cfg, demo=True))


def _start_scheduler(cfg: Config, session_factory) -> object | None:  # noqa: ANN001
    from core.reporting.scheduler import start_scheduler

    try:
        return start_scheduler(cfg, session_factory)
    except Exception:  # reports are not worth losing live ingest over; the failure is logged
        log.exception("report scheduler failed to start; running without it")
        return None


def _start_alerts(cfg: Config, session_factory) -> object | None:  # noqa: ANN001
    from core.alerts.jobs import start_alert_scheduler

    try:
        return start_alert_scheduler(cfg, session_factory)
    except Exception:  # alerts are not worth losing live ingest over; the failure is logged
        log.exception("alert scheduler failed to start; running without it")
        return None


def _start_fleet_ops(cfg: Config, session_factory, broker_url) -> object | None:  # noqa: ANN001
    from mqtt_listener.fleet_ops import start_fleet_ops

    try:
        return start_fleet_ops(cfg, session_factory, broker_url)
    except Exception:  # commands and OTA wait; ingest goes on
        log.exception("fleet-ops (commands, OTA) failed to start; running without it")
        return None


def _start_sim_responder(broker_url, prefix: str) -> object | None:  # noqa: ANN001
    from mqtt_listener.sim_fleet_ops import SimCommandResponder

    try:
        return SimCommandResponder(broker_url.host, broker_url.port, prefix, broker_url.username,
                                   broker_url.password).start()
    except Exception:  # the demo still runs; commands time out
        log.exception("simulated command responder failed to start")
        return None


def _start_web(cfg: Config, session_factory, host: str, port: int) -> tuple[object, threading.Thread]:  # noqa: ANN001
    from werkzeug.serving import make_server

    from app import create_app

    app = create_app(cfg, session_factory=session_factory)
    server = make_server(host, port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="web", daemon=True)
    thread.start()
    return server, thread


def _print_banner(host: str, port: int, broker: str) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    lines = ["", "Carbon Track is running.", f"  Open http://{shown}:{port}/", "  Demo logins (user / password):"]
    lines += [f"    {u:<8} {p:<16} {who}" for u, p, _role, _factory, who in DEMO_USERS]
    lines.append(f"  MQTT broker: {broker}")
    lines.append("  Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def run_all(
    cfg: Config,
    host: str = "127.0.0.1",
    port: int = 8050,
    simulate: bool = True,
    *,
    stop_event: threading.Event | None = None,
    on_ready: Callable[[dict], None] | None = None,
) -> int:
    """Run everything in one process until Ctrl-C/SIGTERM (or `stop_event`); return the exit code."""
    from mqtt_listener.broker import EmbeddedBroker
    from mqtt_listener.client import PROTOCOL_V311, Listener
    from mqtt_listener.simulator import SimConfig, nodes_from_db, start_simulator

    stop = stop_event or threading.Event()
    previous_handlers = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous_handlers[signum] = signal.signal(signum, lambda *_: stop.set())

    # amqtt logs every connection and state transition at INFO: keep the console readable.
    for noisy in ("amqtt", "transitions", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _init_db(cfg)
    engine, session_factory = open_database(cfg.database_url)
    broker = None
    listener = sim = scheduler = server = alerts = fleet_ops = responder = None
    try:
        if cfg.mqtt_url is None:
            broker = EmbeddedBroker()
            broker_url = broker.start()
            protocol = PROTOCOL_V311  # amqtt drops MQTT 5 CONNECTs
        else:
            broker_url = cfg.mqtt_url
            protocol = None  # from the URL's ?protocol=, else probe
        listener = Listener(cfg, session_factory, broker=broker_url, protocol=protocol, client_id=f"carbontrack-run-{socket.gethostname()}"[:64])
        listener.start()
        if simulate and broker is None:
            # Simulated nodes publish under the real device ids: never mix them into a real broker's
            # traffic (their readings would shadow the real ones at the same timestamps).
            log.warning(
                "simulated fleet not started: CARBONTRACK_MQTT_URL points at an external broker; "
                "use `carbontrack simulate` explicitly for a demo against it"
            )
        elif simulate:
            nodes = nodes_from_db(session_factory)
            if nodes:
                sim = start_simulator(
                    SimConfig(broker=broker_url, prefix=cfg.topic_prefix, protocol="3.1.1", outage_prob=0.002, outage_intervals=5),
                    nodes,
                )
                log.info("simulated fleet: %d nodes", len(nodes))
                responder = _start_sim_responder(broker_url, cfg.topic_prefix)
            else:
                log.warning("no devices in the database: nothing to simulate")
        scheduler = _start_scheduler(cfg, session_factory)
        alerts = _start_alerts(cfg, session_factory)
        fleet_ops = _start_fleet_ops(cfg, session_factory, broker_url)
        server, _ = _start_web(cfg, session_factory, host, port)
        broker_text = f"{broker_url.host}:{broker_url.port}" + (" (embedded amqtt)" if broker else "")
        _print_banner(host, port, broker_text)
        if on_ready is not None:
            on_ready({"broker": broker_url, "listener": listener, "web": server is not None})
        while not stop.wait(1.0):
            pass
        log.info("stopping")
    finally:
        if server is not None:
            server.shutdown()
        for part in (fleet_ops, responder):
            if part is not None:
                part.stop()
        if sim is not None:
            sim.stop()
        if listener is not None:
            listener.stop()
        for sched in (scheduler, alerts):
            if sched is not None:
                try:
                    sched.shutdown()
                except Exception:
                    log.exception("scheduler shutdown failed")
        if broker is not None:
            broker.stop()
        engine.dispose()
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
    return 0
