"""Shared storage (core.storage): one contract for the local, database and S3 stores; workbooks and
evidence files reach every host through it; files written before it keep working (issue 18)."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from reports_helpers import MONTH, NOW, config_for, seed_known_month

from core.config import ConfigError, load_config
from core.db import make_engine, make_session_factory
from core.evidence.files import Attachment, add_evidence, read_evidence_file
from core.models import Factory, StoredBlob
from core.reporting.reports import generate_reports, read_report_file, report_key
from core.storage import (
    BlobMissing,
    DatabaseStore,
    LocalStore,
    S3Store,
    check_key,
    open_store,
    storage_kind,
    sync_directory,
)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def s3_client(monkeypatch):
    """A moto S3 (in process, no network) with one bucket."""
    moto = pytest.importorskip("moto")
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    import boto3

    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="ct-files")
        yield client


@pytest.fixture(params=["local", "database-sqlite", "database-postgres", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        yield LocalStore(tmp_path / "data")
    elif request.param.startswith("database"):
        url = request.getfixturevalue("sqlite_url" if request.param.endswith("sqlite") else "pg_url")
        engine = make_engine(url)
        yield DatabaseStore(make_session_factory(engine))
        engine.dispose()
    else:
        yield S3Store("ct-files", "carbontrack/prod", client=request.getfixturevalue("s3_client"))


def test_store_contract(store):
    key = "reports/2026-10/carbontrack_TST_2026-10_v1.xlsx"
    assert not store.exists(key)
    with pytest.raises(BlobMissing):
        store.get(key)
    store.put(key, b"first")
    assert store.exists(key) and store.get(key) == b"first"
    store.put(key, b"second version")  # same key again: the new bytes win
    assert store.get(key) == b"second version"
    store.put("evidence/3/abc.pdf", PDF)
    store.put("reports/2026-11/x.xlsx", b"x")
    assert list(store.keys("reports/")) == ["reports/2026-10/carbontrack_TST_2026-10_v1.xlsx", "reports/2026-11/x.xlsx"]
    assert list(store.keys("evidence/")) == ["evidence/3/abc.pdf"]
    store.delete(key)
    assert not store.exists(key)
    assert store.get("evidence/3/abc.pdf") == PDF


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../x", "reports/../../x", "a//b", ".hidden/x", "a\\b", "a/./b"])
def test_keys_cannot_leave_the_store(bad, tmp_path):
    with pytest.raises(ValueError):
        check_key(bad)
    with pytest.raises(ValueError):
        LocalStore(tmp_path).put(bad, b"x")


def test_the_database_store_is_the_default_on_postgresql_only(tmp_path):
    pg = {"CARBONTRACK_DATABASE_URL": "postgresql://u@h/db", "CARBONTRACK_SECRET_KEY": "k" * 40}
    assert storage_kind(load_config(pg)) == "database"
    assert storage_kind(load_config({})) == "local"
    assert storage_kind(load_config({**pg, "CARBONTRACK_STORAGE": "local"})) == "local"
    assert storage_kind(load_config({"CARBONTRACK_STORAGE": "database"})) == "database"
    cfg = load_config({**pg, "CARBONTRACK_STORAGE": "s3://bucket/pre", "CARBONTRACK_S3_ENDPOINT_URL": "http://m:9000"})
    assert storage_kind(cfg) == "s3" and cfg.s3_endpoint_url == "http://m:9000"
    for bad in ("nfs", "s3://", "ftp://x"):
        with pytest.raises(ConfigError, match="CARBONTRACK_STORAGE"):
            load_config({"CARBONTRACK_STORAGE": bad})
    assert isinstance(open_store(load_config({"CARBONTRACK_DATA_DIR": str(tmp_path)})), LocalStore)


def test_a_workbook_made_on_one_host_is_read_on_another(Session, pg_url, tmp_path):
    """PostgreSQL: the workbook is in the database, so a host with an empty data directory serves it."""
    seed_known_month(Session)
    cfg_a = config_for(pg_url, tmp_path / "a")
    (rep,) = generate_reports(Session, cfg_a, MONTH, ["TST"], requested_by="t", now=NOW).reports
    local_bytes = Path(rep.path).read_bytes()
    shutil.rmtree(cfg_a.data_dir)  # host A's disk is gone
    store_b = open_store(config_for(pg_url, tmp_path / "b"), Session)
    assert isinstance(store_b, DatabaseStore)
    data = read_report_file(store_b, rep)
    assert data == local_bytes and hashlib.sha256(data).hexdigest() == rep.sha256
    assert report_key(rep) == "reports/2026-10/carbontrack_TST_2026-10_v1.xlsx"
    assert not (tmp_path / "b").exists()  # host B wrote nothing locally


def test_files_written_before_shared_storage_are_served_and_copied_in(Session, pg_url, tmp_path):
    """A report and an evidence file stored only on disk (the old way) still download, and land in the store."""
    seed_known_month(Session)
    cfg_old = replace(config_for(pg_url, tmp_path), storage="local")
    (rep,) = generate_reports(Session, cfg_old, MONTH, ["TST"], requested_by="t", now=NOW).reports
    with Session() as s:
        tst = s.scalar(sa.select(Factory.id).where(Factory.code == "TST"))
        manager = SimpleNamespace(id=None, username="m", role="factory_manager", factory_id=tst, active=True)
        ev = add_evidence(s, cfg_old.data_dir, manager, Attachment(tst, MONTH, "diesel"), "inv.pdf", PDF)
        s.commit()
        with pytest.raises(BlobMissing):
            DatabaseStore(Session).get(report_key(rep))
    store = open_store(replace(cfg_old, storage="auto"), Session)
    assert hashlib.sha256(read_report_file(store, rep)).hexdigest() == rep.sha256
    assert read_evidence_file(store, ev) == PDF
    with Session() as s:
        keys = set(s.scalars(sa.select(StoredBlob.key)))
    assert keys == {report_key(rep), f"evidence/{tst}/{hashlib.sha256(PDF).hexdigest()}.pdf"}
    shutil.rmtree(cfg_old.data_dir)  # now the store alone serves them
    assert read_evidence_file(store, ev) == PDF
    assert hashlib.sha256(read_report_file(store, rep)).hexdigest() == rep.sha256
    with pytest.raises(LookupError):
        DatabaseStore(Session).get("reports/2026-10/none.xlsx")


def test_storage_sync_copies_a_data_directory_once(Session, pg_url, tmp_path):
    local = LocalStore(tmp_path)
    local.put("reports/2026-10/a.xlsx", b"a")
    local.put("evidence/1/b.pdf", PDF)
    local.put("ota/fw.bin", b"firmware")  # per host: not synced
    local.put("cache/x", b"cache")
    db = DatabaseStore(Session)
    assert sync_directory(db, tmp_path) == (2, 0)
    assert sync_directory(db, tmp_path) == (0, 2)
    assert list(db.keys()) == ["evidence/1/b.pdf", "reports/2026-10/a.xlsx"]


def test_evidence_goes_to_the_store_on_upload(Session, db_url, tmp_path):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    store = open_store(cfg, Session)
    with Session() as s:
        tst = s.scalar(sa.select(Factory.id).where(Factory.code == "TST"))
        manager = SimpleNamespace(id=None, username="m", role="factory_manager", factory_id=tst, active=True)
        ev = add_evidence(s, cfg.data_dir, manager, Attachment(tst, MONTH, "diesel"), "inv.pdf", PDF, store=store)
        s.commit()
    key = f"evidence/{tst}/{hashlib.sha256(PDF).hexdigest()}.pdf"
    assert store.get(key) == PDF
    assert (store.kind == "database") == db_url.startswith("postgresql")
    assert read_evidence_file(store, ev) == PDF
