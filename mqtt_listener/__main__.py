"""`python -m mqtt_listener`: run one listener until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from core.config import ConfigError, load_config
from core.db import open_database

log = logging.getLogger("mqtt_listener")


def main(argv: list[str] | None = None) -> int:
    """Run the listener against CARBONTRACK_MQTT_URL and CARBONTRACK_DATABASE_URL until signalled."""
    parser = argparse.ArgumentParser(prog="python -m mqtt_listener", description="Carbon Track MQTT listener")
    parser.add_argument("--client-id", help="MQTT client id (default: stable per host and CARBONTRACK_LISTENER_ID)")
    parser.add_argument("--shared", action="store_true", help="shared subscription: several listeners split the load")
    parser.add_argument("--protocol", choices=["5", "3.1.1", "auto"], help="MQTT protocol (default: from the URL, else auto)")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(require_secret=False)
    except ConfigError as exc:
        print(f"mqtt_listener: configuration error: {exc}", file=sys.stderr)
        return 2
    if not logging.getLogger().handlers:
        logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if cfg.mqtt_url is None:
        print(
            "mqtt_listener: CARBONTRACK_MQTT_URL is not set; the embedded broker only runs inside "
            "`carbontrack run`",
            file=sys.stderr,
        )
        return 2
    from mqtt_listener.client import Listener

    engine, session_factory = open_database(cfg.database_url)
    try:
        listener = Listener(
            cfg, session_factory, client_id=args.client_id, shared=args.shared or cfg.mqtt_shared, protocol=args.protocol
        )
    except ValueError as exc:
        print(f"mqtt_listener: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()

    def _on_signal(signum: int, _frame) -> None:  # noqa: ANN001
        log.info("signal %d: stopping", signum)
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    listener.start()
    try:
        while not done.wait(1.0):
            pass
    finally:
        listener.stop()
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
