"""`carbontrack` command line: one entry point for every process (DESIGN.md "Processes").

Sub-commands import what they need lazily so that `carbontrack --help` is instant and a process
only loads its own parts.
"""

from __future__ import annotations

import argparse
import logging
import sys

from core.config import Config, ConfigError, load_config

log = logging.getLogger("carbontrack")


def _init_db(cfg: Config, args: argparse.Namespace) -> int:
    from carbontrack.bootstrap import init_database

    summary = init_database(cfg, demo=args.demo)
    print(summary)
    return 0


def _run(cfg: Config, args: argparse.Namespace) -> int:
    from carbontrack.runner import run_all

    return run_all(cfg, host=args.host, port=args.port, simulate=not args.no_simulate)


def _listen(cfg: Config, args: argparse.Namespace) -> int:
    from mqtt_listener.__main__ import main as listener_main

    return listener_main(list(args.listen_args))


def _simulate(cfg: Config, args: argparse.Namespace) -> int:
    from mqtt_listener.simulator import main as simulate_main

    return simulate_main(args.sim_args)


def _scheduler(cfg: Config, args: argparse.Namespace) -> int:
    from core.alerts.jobs import alert_scheduler_running
    from core.reporting.scheduler import run_scheduler_forever

    with alert_scheduler_running(cfg):
        return run_scheduler_forever(cfg)


def _fleet(cfg: Config, args: argparse.Namespace) -> int:
    from mqtt_listener.fleet_ops import run_fleet_ops_forever

    return run_fleet_ops_forever(cfg)


def _report(cfg: Config, args: argparse.Namespace) -> int:
    from core.reporting.reports import cli_report

    return cli_report(cfg, month=args.month, factory=args.factory, out=args.out, period=args.period,
                      restate=args.restate)


def _create_user(cfg: Config, args: argparse.Namespace) -> int:
    from carbontrack.bootstrap import create_user_cli

    return create_user_cli(cfg, args.username, args.role, args.factory)


def _api_spec(cfg: Config | None, args: argparse.Namespace) -> int:
    import json

    from api import spec_json

    text = json.dumps(spec_json(), indent=2, ensure_ascii=False) + "\n"
    if args.out in (None, "-"):
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"wrote the OpenAPI document to {args.out}")
    return 0


def _create_token(cfg: Config, args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from core.accounts.tokens import TokenError, create_token
    from core.db import open_database
    from core.models import User

    engine, session_factory = open_database(cfg.database_url)
    try:
        with session_factory() as s:
            row = s.scalar(sa.select(User).where(User.username == args.username))
            if row is None:
                print(f"carbontrack: no user {args.username!r}", file=sys.stderr)
                return 1
            try:
                token, text = create_token(s, row, args.name, args.expires)
            except TokenError as exc:
                print(f"carbontrack: {exc}", file=sys.stderr)
                return 2
            s.commit()
            expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never expires"
    finally:
        engine.dispose()
    print(text)
    print(f"API token {token.prefix}… '{args.name}' for {args.username} ({row.role}), {expiry}. "
          "It is shown only now: store it safely. Send it as 'Authorization: Bearer <token>'.", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="carbontrack", description="Carbon Track emissions monitoring")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init-db", help="create or upgrade the database schema and seed emission factors")
    p.add_argument("--demo", action="store_true", help="also fill an empty database with the 67 demo factories")
    p.set_defaults(func=_init_db)

    p = sub.add_parser("run", help="all-in-one: web + listener + scheduler (+ embedded broker, simulated fleet)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--no-simulate", action="store_true", help="do not start the simulated fleet")
    p.set_defaults(func=_run)

    p = sub.add_parser("listen", help="run the MQTT listener (same as python -m mqtt_listener; see --help)", add_help=False)
    p.add_argument("listen_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_listen)

    p = sub.add_parser("simulate", help="publish simulated sensor-node telemetry (see --help)", add_help=False)
    p.add_argument("sim_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_simulate)

    p = sub.add_parser("scheduler", help="run the report and alert scheduler")
    p.set_defaults(func=_scheduler)

    p = sub.add_parser("fleet", help="run fleet operations: publish node commands, record results, drive OTA")
    p.set_defaults(func=_fleet)

    p = sub.add_parser("report", help="generate the compliance workbooks for one month, quarter or year")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--month", help="YYYY-MM (local month)")
    when.add_argument("--period", help="YYYY-MM (month), YYYY-Qn (CBAM quarter) or YYYY (calendar year)")
    p.add_argument("--factory", help="factory code; default: every factory and the network workbook")
    p.add_argument("--out", help="directory to copy the workbooks to")
    p.add_argument("--restate", metavar="REASON",
                   help="restate: use the factor and parameter versions in force now instead of repeating the "
                        "earlier version's, and say why (shown in the workbook with what changed)")
    p.set_defaults(func=_report)

    p = sub.add_parser("create-user", help="create a user (asks for the password)")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=["factory_manager", "hq", "admin", "auditor"])
    p.add_argument("--factory", help="factory code (factory managers)")
    p.set_defaults(func=_create_user)

    p = sub.add_parser("create-token", help="create a personal API token for a user (printed once)")
    p.add_argument("username")
    p.add_argument("--name", default="cli", help="what the token is for (default: cli)")
    p.add_argument("--expires", type=int, metavar="DAYS", help="days until it expires (default: never)")
    p.set_defaults(func=_create_token)

    p = sub.add_parser("api-spec", help="write the REST API's OpenAPI document (JSON)")
    p.add_argument("--out", help="file to write (default: standard output)")
    p.set_defaults(func=_api_spec, needs_config=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `carbontrack` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulate"]:
        # The simulator has its own options; argparse's REMAINDER cannot start with one.
        from mqtt_listener.simulator import main as simulate_main

        return simulate_main(argv[1:])
    if argv[:1] == ["listen"]:
        # The same process as `python -m mqtt_listener`: its options, its configuration rules
        # (no CARBONTRACK_SECRET_KEY needed: the listener serves no web sessions).
        from mqtt_listener.__main__ import main as listener_main

        return listener_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "needs_config", True):  # the spec needs no database or secret
        return args.func(None, args) or 0
    try:
        cfg = load_config(require_secret=args.command not in ("listen", "simulate"))
    except ConfigError as exc:
        print(f"carbontrack: configuration error: {exc}", file=sys.stderr)
        return 2
    return args.func(cfg, args) or 0


if __name__ == "__main__":
    sys.exit(main())
