"""Report records: versions, files, SHA-256, factor versions; failures recorded; who may see what; the CLI."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from reports_helpers import MONTH, NOW, config_for, seed_known_month

import core.reporting.reports as reports
from core.access import AccessDenied
from core.models import Factory, Report
from core.reporting.reports import (
    ReportError,
    check_month,
    cli_report,
    generate_reports,
    report_filename,
    report_for_download,
    visible_reports,
)


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_regenerating_creates_version_2_and_keeps_version_1(Session, db_url, tmp_path):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    (v1,) = generate_reports(Session, cfg, MONTH, ["TST"], requested_by="alice", now=NOW).reports
    (v2,) = generate_reports(Session, cfg, MONTH, ["tst"], requested_by="bob", now=NOW).reports
    assert (v1.version, v2.version) == (1, 2)
    assert v1.path != v2.path
    assert Path(v1.path).parent == (cfg.reports_dir / "2026-10").resolve()
    assert Path(v2.path).name == report_filename("TST", MONTH, 2)
    for rep in (v1, v2):
        assert Path(rep.path).is_file()
        assert rep.sha256 == _sha(rep.path)
    assert v1.sha256 != v2.sha256
    with Session() as s:
        rows = s.query(Report).filter_by(scope_key="TST").order_by(Report.version).all()
        assert [(r.version, r.status, r.requested_by) for r in rows] == [(1, "done", "alice"), (2, "done", "bob")]
        assert rows[0].sha256 == _sha(rows[0].path)  # the old row still names the old, unchanged file
        versions = json.loads(rows[1].factor_versions)
        assert versions["diesel"] == 1 and versions["grid_ke_average"] == 1 and "grid_ke_ifi_om" not in versions
        assert rows[1].gwp_set == "AR5"
        assert rows[1].generated_at is not None and rows[1].factory_id is not None


def test_a_failing_workbook_is_recorded_and_the_rest_go_on(Session, db_url, tmp_path, monkeypatch):
    seed_known_month(Session)
    real = reports.build_factory_workbook

    def flaky(fm, *args, **kwargs):
        if fm.code == "KGW":
            raise RuntimeError("disk on fire")
        return real(fm, *args, **kwargs)

    monkeypatch.setattr(reports, "build_factory_workbook", flaky)
    result = generate_reports(Session, config_for(db_url, tmp_path), MONTH, requested_by="test", now=NOW)
    assert not result.ok
    status = {r.scope_key: (r.status, r.error) for r in result.reports}
    assert status["KGW"] == ("failed", "RuntimeError: disk on fire")
    assert status["TST"][0] == "done" and status["NETWORK"][0] == "done"


def test_only_missing_skips_done_and_retries_failed_in_place(Session, db_url, tmp_path, monkeypatch):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    monkeypatch.setattr(reports, "build_network_workbook", lambda *a, **k: (_ for _ in ()).throw(OSError("full")))
    first = generate_reports(Session, cfg, MONTH, requested_by="scheduler", only_missing=True, now=NOW)
    assert [r.scope_key for r in first.failed] == ["NETWORK"]
    monkeypatch.undo()
    second = generate_reports(Session, cfg, MONTH, requested_by="scheduler", only_missing=True, now=NOW)
    assert [(r.scope_key, r.version, r.attempts, r.status) for r in second.reports] == [("NETWORK", 1, 2, "done")]
    assert generate_reports(Session, cfg, MONTH, requested_by="scheduler", only_missing=True, now=NOW).reports == []


def _user(role, factory_id=None):
    return SimpleNamespace(id=1, role=role, factory_id=factory_id, active=True)


def test_managers_see_only_their_factory_and_never_the_network(Session, db_url, tmp_path):
    seed_known_month(Session)
    generate_reports(Session, config_for(db_url, tmp_path), MONTH, requested_by="test", now=NOW)
    with Session() as s:
        tst = s.query(Factory).filter_by(code="TST").one()
        mine = visible_reports(s, _user("factory_manager", tst.id))
        assert {r.scope_key for r in mine} == {"TST"}
        assert len(visible_reports(s, _user("auditor"))) == 4
        assert len(visible_reports(s, _user("auditor"), MONTH)) == 4
        assert visible_reports(s, _user("auditor"), date(2026, 9, 1)) == []
        assert visible_reports(s, None) == []
        others = [r for r in visible_reports(s, _user("hq")) if r.scope_key != "TST"]
        for rep in others:
            with pytest.raises(AccessDenied):
                report_for_download(s, _user("factory_manager", tst.id), rep.id)
        assert report_for_download(s, _user("factory_manager", tst.id), mine[0].id).scope_key == "TST"
        assert report_for_download(s, _user("hq"), others[0].id).id == others[0].id
        with pytest.raises(LookupError):
            report_for_download(s, _user("hq"), 999_999)


@pytest.mark.parametrize("text, message", [
    ("2026-13", "month must look like"), ("Oct 2026", "month must look like"), ("2027-01", "has not started"),
])
def test_bad_months_are_refused(text, message, tmp_path):
    with pytest.raises(ReportError, match=message):
        check_month(text, config_for("sqlite://", tmp_path), now=NOW)


def test_cli_report(sqlite_url, tmp_path, capsys):
    from core.db import open_database

    engine, Session = open_database(sqlite_url)
    seed_known_month(Session)
    engine.dispose()
    cfg = config_for(sqlite_url, tmp_path)
    assert cli_report(cfg, month="2026-1x") == 2
    assert "month must look like 2026-10" in capsys.readouterr().err
    assert cli_report(cfg, month="2026-10", factory="NOPE") == 2
    assert "unknown factory code: NOPE" in capsys.readouterr().err
    out_dir = tmp_path / "out"
    assert cli_report(cfg, month="2026-10", factory="TST", out=str(out_dir)) == 0
    text = capsys.readouterr().out
    assert "[1/1] TST v1 done" in text and str(out_dir / "carbontrack_TST_2026-10_v1.xlsx") in text
    assert (out_dir / "carbontrack_TST_2026-10_v1.xlsx").is_file()
    assert cli_report(cfg, month="2026-10") == 0
    text = capsys.readouterr().out
    assert "[4/4] NETWORK v1 done" in text and "TST\tv2" in text and "4 done, 0 failed" in text


def test_scheduler_replaces_a_partial_month_made_on_demand(Session, db_url, tmp_path):
    from datetime import UTC, datetime

    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    (partial,) = generate_reports(Session, cfg, MONTH, ["TST"], requested_by="hq", now=NOW).reports
    with Session() as s:  # pretend it was made on 20 October, mid-month
        s.get(Report, partial.id).generated_at = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
        s.commit()
    result = generate_reports(Session, cfg, MONTH, ["TST"], requested_by="scheduler", only_missing=True, now=NOW)
    assert [(r.version, r.status) for r in result.reports] == [(2, "done")]
    assert generate_reports(Session, cfg, MONTH, ["TST"], requested_by="scheduler", only_missing=True,
                            now=NOW).reports == []
