"""`carbontrack run`: the all-in-one process (web + listener + scheduler + broker + simulated fleet).

With no CARBONTRACK_MQTT_URL it starts the embedded amqtt broker on a free loopback port; the
listener and the simulated nodes talk to it over real MQTT, so the demo exercises the same
ingest path as production. With an external broker the simulated fleet is not started (it would
publish under the real device ids); `carbontrack simulate` does that on purpose.

The web port is bound first: if it is taken the command prints one line (which port, what to do)
and exits with code 3 before anything else starts. The portals are served by waitress (a
production WSGI server, not werkzeug's development server) in a background thread; the main thread
waits for Ctrl-C or SIGTERM and then stops everything in reverse order.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable

from carbontrack.demo import DEMO_USERS
from core.config import Config
from core.db import open_database

log = logging.getLogger("carbontrack.run")
EXIT_PORT_TAKEN = 3



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


class PortTaken(OSError):
    """The web port is in use; the message is the one line to show."""


def bind_web_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on the web port before anything else starts; PortTaken (one line) if it is in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no obstacle; a listener is
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            why = "is already in use" if exc.errno == errno.EADDRINUSE else "needs privileges"
            raise PortTaken(
                f"carbontrack run: port {port} on {host} {why} (another Carbon Track still running?). "
                f"Stop that process or pick another port: make run PORT={port + 1} "
                f"(or carbontrack run --port {port + 1})") from exc
        raise PortTaken(f"carbontrack run: cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


class WebServer:
    """The portals served by waitress (a production WSGI server) on an already bound socket, in a thread."""

    def __init__(self, wsgi_app, sock: socket.socket, threads: int = 8) -> None:  # noqa: ANN001
        import waitress

        self.server = waitress.create_server(wsgi_app, sockets=[sock], threads=threads, ident="carbontrack",
                                             clear_untrusted_proxy_headers=False)
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)

    def start(self) -> WebServer:
        self.thread.start()
        return self

    def shutdown(self) -> None:
        """Stop accepting, finish the requests in progress (waitress closes its task threads)."""
        self.server.close()
        self.thread.join(5)


def _start_web(cfg: Config, session_factory, sock: socket.socket) -> WebServer:  # noqa: ANN001
    from app import create_app

    app = create_app(cfg, session_factory=session_factory)
    return WebServer(app.server, sock).start()


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

    # The web port first: if it is taken, stop now with one line, before a broker, listener or
    # scheduler has started (issue 17: no hung terminal without a web page).
    try:
        web_sock = bind_web_socket(host, port)
    except PortTaken as exc:
        print(exc, file=sys.stderr, flush=True)
        return EXIT_PORT_TAKEN
    stop = stop_event or threading.Event()
    previous_handlers = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous_handlers[signum] = signal.signal(signum, lambda *_: stop.set())

    # amqtt logs every connection and state transition at INFO: keep the console readable.
    for noisy in ("amqtt", "transitions", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        _init_db(cfg)
        engine, session_factory = open_database(cfg.database_url)
    except BaseException:
        web_sock.close()
        raise
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
        server = _start_web(cfg, session_factory, web_sock)
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
        web_sock.close()
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
