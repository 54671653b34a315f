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
# Maintenance commands that serve no web session: no CARBONTRACK_SECRET_KEY needed.
NO_SECRET_COMMANDS = ("rebuild-rollups", "retention", "partitions", "provision-node", "storage-sync", "demo-reset",
                      "worker")


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


def _worker(cfg: Config, args: argparse.Namespace) -> int:
    """The Celery worker that runs the portals' background callbacks (report generation)."""
    if not cfg.redis_url:
        print("carbontrack worker: CARBONTRACK_REDIS_URL is not set; without it the web process runs "
              "background jobs itself (diskcache) and no worker is needed", file=sys.stderr)
        return 2
    from app import create_app

    app = create_app(cfg)  # registers every background callback as a Celery task
    celery_app = app.server.config["CT_CELERY"]
    argv = ["worker", f"--loglevel={'DEBUG' if args.verbose else 'INFO'}", f"--concurrency={args.concurrency}",
            "--hostname=carbontrack@%h", "--without-gossip", "--without-mingle"]
    celery_app.worker_main(argv)
    return 0


def _provision_node(cfg: Config, args: argparse.Namespace) -> int:
    """Write a node's (or a service's) Mosquitto password and ACL entries; print its settings."""
    from pathlib import Path

    from carbontrack.provision import NodeTopics, ProvisionError, node_acl, provision, service_acl

    pw_file, acl_file = Path(args.password_file), Path(args.acl_file)
    if args.service:
        block, topics, factory = service_acl(args.name, cfg.topic_prefix), None, None
    else:
        from core.db import open_database
        from core.models import Device, Factory

        engine, session_factory = open_database(cfg.database_url)
        try:
            with session_factory() as s:
                device = s.get(Device, args.name)
                factory = s.get(Factory, device.factory_id).code if device is not None else None
        finally:
            engine.dispose()
        if device is None:
            print(f"carbontrack provision-node: no device {args.name!r} in the registry (add it on the Admin page "
                  "first)", file=sys.stderr)
            return 1
        topics = NodeTopics(f"{cfg.topic_prefix}/{factory}/{args.name}")
        block = node_acl(args.name, topics)
    try:
        password = provision(args.name, block, pw_file, acl_file)
    except (ProvisionError, OSError) as exc:
        print(f"carbontrack provision-node: {exc}", file=sys.stderr)
        return 2
    broker = cfg.mqtt_url
    host = broker.host if broker else "<broker host>"
    port = broker.port if broker else 8883
    lines = [f"wrote {args.name} to {pw_file} (hashed) and its ACL to {acl_file}; reload Mosquitto "
             "(systemctl reload mosquitto) to apply.", ""]
    if topics is None:
        lines += [f"service account {args.name}: CARBONTRACK_MQTT_URL=mqtts://{args.name}:{password}@{host}:{port}"]
    else:
        lines += [f"Node settings for {args.name} (factory {factory}); the password is shown only now:",
                  f"  mqtt_host      {host}", f"  mqtt_port      {port}",
                  f"  mqtt_tls       {'yes' if (broker is None or broker.tls) else 'no'}",
                  f"  mqtt_username  {args.name}", f"  mqtt_password  {password}",
                  f"  device_id      {args.name}", f"  topic_prefix   {cfg.topic_prefix}",
                  f"  factory_code   {factory}",
                  f"  publishes      {', '.join(topics.publish)}", f"  subscribes     {', '.join(topics.subscribe)}"]
    print("\n".join(lines))
    return 0


def _demo_reset(cfg: Config, args: argparse.Namespace) -> int:
    """Delete the embedded SQLite demo database and the data directory's files; load the demo again."""
    import shutil
    from pathlib import Path

    from sqlalchemy.engine import make_url

    if not cfg.is_sqlite:
        print("carbontrack demo-reset: only resets the embedded SQLite demo database; "
              "CARBONTRACK_DATABASE_URL names another database, which is left alone", file=sys.stderr)
        return 2
    db_file = make_url(cfg.database_url).database
    for suffix in ("", "-wal", "-shm", "-journal"):
        if db_file:
            Path(db_file + suffix).unlink(missing_ok=True)
    for sub in ("reports", "evidence", "cache", "ota"):
        shutil.rmtree(cfg.data_dir / sub, ignore_errors=True)
    from carbontrack.bootstrap import init_database

    print("demo reset: " + init_database(cfg, demo=True))
    return 0


def _storage_sync(cfg: Config, args: argparse.Namespace) -> int:
    """Copy this host's data-directory workbooks and evidence files into the shared storage."""
    from core.db import open_database
    from core.storage import LocalStore, open_store, sync_directory

    engine, session_factory = open_database(cfg.database_url)
    try:
        store = open_store(cfg, session_factory)
        if isinstance(store, LocalStore):
            print("carbontrack storage-sync: the storage is this data directory (CARBONTRACK_STORAGE=local, or "
                  "SQLite): nothing to copy", file=sys.stderr)
            return 0
        copied, present = sync_directory(store, args.data_dir or cfg.data_dir)
    finally:
        engine.dispose()
    print(f"copied {copied} files into {store.kind} storage; {present} were there already")
    return 0


def _report(cfg: Config, args: argparse.Namespace) -> int:
    from core.reporting.reports import cli_report

    return cli_report(cfg, month=args.month, factory=args.factory, out=args.out, period=args.period,
                      restate=args.restate)


def _substitute(cfg: Config, args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from core.db import open_database
    from core.measurement.substitution import substitute_period
    from core.models import Factory
    from core.timeutil import local_date, local_day_bounds_utc, utcnow
    from core.validation import iso_date

    first, last = iso_date(args.date_from, "--from"), iso_date(args.date_to, "--to")
    if first is None or last is None:
        print("carbontrack: --from and --to are local days, YYYY-MM-DD", file=sys.stderr)
        return 2
    if first > last:
        print("carbontrack: --from is after --to", file=sys.stderr)
        return 2
    if last >= local_date(utcnow(), cfg.tz):
        print("carbontrack: substitution is for a closed period: --to must be before today (local day)",
              file=sys.stderr)
        return 2
    start, _ = local_day_bounds_utc(first, cfg.tz)
    _, end = local_day_bounds_utc(last, cfg.tz)
    engine, session_factory = open_database(cfg.database_url)
    try:
        with session_factory() as s:
            factory_ids = None
            if args.factory:
                fid = s.scalar(sa.select(Factory.id).where(Factory.code == args.factory))
                if fid is None:
                    print(f"carbontrack: no factory {args.factory!r}", file=sys.stderr)
                    return 1
                factory_ids = [fid]
            result = substitute_period(s, start, end, factory_ids)
            s.commit()
    finally:
        engine.dispose()
    methods = ", ".join(f"{m} {n} h" for m, n in sorted(result.by_method.items())) or "none"
    print(f"substituted {result.hours} device-hours ({result.co2_kg / 1000:,.3f} t CO2) for {result.devices} "
          f"devices, {first} to {last} (local days); methods: {methods}; non-operating hours: "
          f"{result.non_operating_hours}; missing hours without a value to substitute from: "
          f"{result.unsubstituted_hours}")
    return 0


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


# --- Rollup rebuild, retention and partitions (issue 18, part C) ------------------------------


def _parse_day(text: str | None):  # noqa: ANN202
    from datetime import date

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"carbontrack: {text!r} is not a date (YYYY-MM-DD, a local day)") from None


def _rebuild_rollups(cfg: Config, args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from core.db import open_database
    from core.measurement.rollups import rebuild_rollups
    from core.models import Device, Factory

    day_from, day_to = _parse_day(args.date_from), _parse_day(args.date_to)
    engine, session_factory = open_database(cfg.database_url)
    try:
        with session_factory() as s:
            factory_ids = None
            if args.factory:
                found = dict(s.execute(sa.select(Factory.code, Factory.id).where(Factory.code.in_(args.factory))).all())
                missing = sorted(set(args.factory) - set(found))
                if missing:
                    print(f"carbontrack: no factory {', '.join(missing)}", file=sys.stderr)
                    return 1
                factory_ids = set(found.values())
            if args.device:
                known = set(s.scalars(sa.select(Device.id).where(Device.id.in_(args.device))))
                missing = sorted(set(args.device) - known)
                if missing:
                    print(f"carbontrack: no device {', '.join(missing)}", file=sys.stderr)
                    return 1
            result = rebuild_rollups(s, factory_ids=factory_ids, device_ids=args.device or None,
                                     day_from=day_from, day_to=day_to, tz=cfg.tz)
            s.commit()
    finally:
        engine.dispose()
    print(f"rebuilt {result.device_days:,} device-days and {result.factory_days:,} factory-days from "
          f"{result.readings:,} raw readings ({result.rows_deleted:,} rollup rows replaced by {result.rows_written:,})")
    if result.kept_before is not None:
        print(f"days before {result.kept_before} left as they are: raw readings before them were dropped by retention")
    if result.coverage_fixed:
        print(f"{result.coverage_fixed:,} readings had a stale covered_s: corrected")
    return 0


def _retention(cfg: Config, args: argparse.Namespace) -> int:
    from core.db import open_database
    from core.measurement.retention import RetentionPolicy, apply_retention

    def days(value: int) -> int | None:
        return None if value < 0 else value

    policy = RetentionPolicy(keep_raw_months=args.keep_raw_months, rejected_days=days(args.rejected_days),
                             audit_days=days(args.audit_days), listener_stat_days=days(args.listener_days),
                             ahead_months=args.ahead)
    engine, session_factory = open_database(cfg.database_url)
    try:
        with session_factory() as s:
            result = apply_retention(s, policy, tz=cfg.tz)
            s.commit()
    except ValueError as exc:
        print(f"carbontrack: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(result.summary())
    return 0


def _partitions(cfg: Config, args: argparse.Namespace) -> int:
    from core.db import open_database
    from core.measurement.retention import ensure_partitions, list_partitions, reading_is_partitioned

    engine, session_factory = open_database(cfg.database_url)
    try:
        with session_factory() as s:
            if not reading_is_partitioned(s):
                print("reading is not partitioned (SQLite, or PostgreSQL before migration 0011): nothing to do")
                return 0
            created = ensure_partitions(s, args.ahead, tz=cfg.tz)
            s.commit()
            parts = list_partitions(s)
    finally:
        engine.dispose()
    print(f"created: {', '.join(created) or 'none'}; {len(parts)} monthly partitions from "
          f"{parts[0].lo:%Y-%m-%d %H:%M} to {parts[-1].hi:%Y-%m-%d %H:%M} UTC (+ reading_default)")
    return 0


def _add_retention_commands(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("rebuild-rollups", help="rebuild hourly and daily rollups from raw readings")
    p.add_argument("--factory", action="append", metavar="CODE", help="factory code (repeatable)")
    p.add_argument("--device", action="append", metavar="ID", help="device id (repeatable)")
    p.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="first local day (default: the oldest)")
    p.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="last local day, inclusive (default: the newest)")
    p.set_defaults(func=_rebuild_rollups)

    p = sub.add_parser("retention", help="drop old raw readings (rollups keep every total) and prune logs")
    p.add_argument("--keep-raw-months", type=int, metavar="N",
                   help="keep raw readings of the last N local months, the current one included (default: all)")
    p.add_argument("--rejected-days", type=int, default=90, metavar="D",
                   help="keep rejected messages D days (default 90; -1 keeps all)")
    p.add_argument("--audit-days", type=int, default=-1, metavar="D",
                   help="keep the audit log D days (default -1: keep all)")
    p.add_argument("--listener-days", type=int, default=7, metavar="D",
                   help="delete stats of listeners silent for D days (default 7; -1 keeps all)")
    p.add_argument("--ahead", type=int, default=3, metavar="N", help="reading partitions to keep ready ahead (months)")
    p.set_defaults(func=_retention)

    p = sub.add_parser("partitions", help="create the monthly reading partitions ahead (PostgreSQL)")
    p.add_argument("--ahead", type=int, default=3, metavar="N", help="months after the current one (default 3)")
    p.set_defaults(func=_partitions)


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

    p = sub.add_parser("worker", help="run the Celery worker for background callbacks (needs CARBONTRACK_REDIS_URL)")
    p.add_argument("--concurrency", type=int, default=2, help="jobs at once (default 2)")
    p.set_defaults(func=_worker)

    p = sub.add_parser("provision-node", help="per-node MQTT credentials: Mosquitto password + ACL entries")
    p.add_argument("name", metavar="DEVICE", help="device id (the node's MQTT username), or with --service an account")
    p.add_argument("--service", action="store_true", help="a server account (listener, fleet-ops) instead of a node")
    p.add_argument("--password-file", default="/etc/mosquitto/carbontrack.passwd")
    p.add_argument("--acl-file", default="/etc/mosquitto/carbontrack.acl")
    p.set_defaults(func=_provision_node)

    p = sub.add_parser("demo-reset", help="delete the embedded SQLite demo database and files; load the demo again")
    p.set_defaults(func=_demo_reset)

    p = sub.add_parser("storage-sync", help="copy this host's workbooks and evidence files into shared storage")
    p.add_argument("--data-dir", help="the data directory to copy from (default: CARBONTRACK_DATA_DIR)")
    p.set_defaults(func=_storage_sync)

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

    p = sub.add_parser("substitute", help="compute labelled substitutes for hours without valid sensor data "
                                          "(40 CFR 75.33 style) for a closed period")
    p.add_argument("--from", dest="date_from", required=True, help="first local day, YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", required=True, help="last local day, YYYY-MM-DD (before today)")
    p.add_argument("--factory", help="factory code; default: every factory")
    p.set_defaults(func=_substitute)

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

    _add_retention_commands(sub)
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
        cfg = load_config(require_secret=args.command not in ("listen", "simulate", *NO_SECRET_COMMANDS))
    except ConfigError as exc:
        print(f"carbontrack: configuration error: {exc}", file=sys.stderr)
        return 2
    return args.func(cfg, args) or 0


if __name__ == "__main__":
    sys.exit(main())
