"""Shared file storage: workbooks and evidence files that every web host can read (issue 18).

A file is stored under a *key*, a relative path such as `reports/2026-10/carbontrack_KGW_2026-10_v1.xlsx`
or `evidence/12/<sha256>.pdf`. Three implementations of one small interface (`BlobStore`):

- `LocalStore`: files under the data directory (`CARBONTRACK_DATA_DIR`), the embedded default.
  One host only: another host has another data directory.
- `DatabaseStore`: the bytes in the `stored_blob` table of the application's database. The default
  whenever the database is PostgreSQL: production is PostgreSQL, every web host, worker and
  scheduler already reaches it, and a backup (`pg_dump`) then holds the files with the rows that
  name them, so a report's row and its workbook can never be restored out of step. Workbooks are
  30-300 KB and evidence files at most 10 MB, well inside what `bytea` handles.
- `S3Store`: any S3-compatible object store (AWS S3, MinIO, Ceph RGW) through boto3, for sites
  that keep files out of the database (`CARBONTRACK_STORAGE=s3://bucket/prefix`,
  `CARBONTRACK_S3_ENDPOINT_URL` for a non-AWS endpoint; credentials from the usual AWS_* variables).

`CARBONTRACK_STORAGE` chooses: `auto` (default: database on PostgreSQL, local on SQLite),
`local`, `database` or `s3://bucket/prefix`.

Files written before this module existed stay where they are: `read_with_fallback` reads the
store first and, when the key is missing there, the old local path, copying it into the store on
the way (a lazy migration); `carbontrack storage-sync` copies a whole data directory at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.models import StoredBlob
from core.timeutil import utcnow

log = logging.getLogger(__name__)

STORAGE_AUTO = "auto"
STORAGE_LOCAL = "local"
STORAGE_DATABASE = "database"
# What a data directory holds that belongs in shared storage (ota/ and cache/ stay per host).
SYNCED_DIRS = ("reports", "evidence")


class BlobMissing(LookupError):
    """No file is stored under the key."""


def check_key(key: str) -> str:
    """A storage key: a relative POSIX path without `..`, empty or hidden parts; ValueError otherwise."""
    parts = key.split("/") if isinstance(key, str) else [""]
    if not key or len(key) > 400 or "\\" in key or any(not p or p.startswith(".") for p in parts):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class BlobStore(Protocol):
    """Where workbooks and evidence files live; every method takes a key made by `check_key`."""

    kind: str

    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...  # BlobMissing when absent
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def keys(self, prefix: str = "") -> Iterator[str]: ...


class LocalStore:
    """Files under one directory (the data directory): one host only."""

    kind = STORAGE_LOCAL

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        """The file a key names."""
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".{final.name}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, final)  # a reader never sees half a file

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise BlobMissing(key) from exc

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def keys(self, prefix: str = "") -> Iterator[str]:
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key


class DatabaseStore:
    """The bytes in the `stored_blob` table: shared by every host that reaches the database."""

    kind = STORAGE_DATABASE

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def put(self, key: str, data: bytes) -> None:
        key = check_key(key)
        sha = hashlib.sha256(data).hexdigest()
        values = dict(sha256=sha, size_bytes=len(data), content=data, stored_at=utcnow())
        with self.session_factory() as s:
            row = s.get(StoredBlob, key)
            if row is not None:
                if row.sha256 == sha:
                    return
                for k, v in values.items():
                    setattr(row, k, v)
                s.commit()
                return
            s.add(StoredBlob(key=key, **values))
            try:
                s.commit()
            except IntegrityError:  # another host stored the same key at the same moment
                s.rollback()
                s.execute(sa.update(StoredBlob).where(StoredBlob.key == key).values(**values))
                s.commit()

    def get(self, key: str) -> bytes:
        with self.session_factory() as s:
            data = s.scalar(sa.select(StoredBlob.content).where(StoredBlob.key == check_key(key)))
        if data is None:
            raise BlobMissing(key)
        return bytes(data)

    def exists(self, key: str) -> bool:
        with self.session_factory() as s:
            return s.scalar(sa.select(sa.func.count()).where(StoredBlob.key == check_key(key))) > 0

    def delete(self, key: str) -> None:
        with self.session_factory() as s:
            s.execute(sa.delete(StoredBlob).where(StoredBlob.key == check_key(key)))
            s.commit()

    def keys(self, prefix: str = "") -> Iterator[str]:
        with self.session_factory() as s:
            q = sa.select(StoredBlob.key).order_by(StoredBlob.key)
            if prefix:
                q = q.where(StoredBlob.key.startswith(prefix, autoescape=True))
            yield from list(s.scalars(q))


class S3Store:
    """An S3-compatible bucket (boto3): `s3://bucket/prefix`, endpoint from CARBONTRACK_S3_ENDPOINT_URL."""

    kind = "s3"

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, client: Any = None) -> None:
        if client is None:
            try:
                import boto3
            except ImportError as exc:  # an optional dependency: pip install boto3
                raise RuntimeError("CARBONTRACK_STORAGE=s3://… needs boto3 (pip install boto3)") from exc
            client = boto3.client("s3", endpoint_url=endpoint_url or None)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _name(self, key: str) -> str:
        key = check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data,
                               ChecksumAlgorithm="SHA256")

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._name(key))["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise BlobMissing(key) from exc

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def keys(self, prefix: str = "") -> Iterator[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        full = (f"{self.prefix}/{prefix}" if self.prefix else prefix)
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:]


def storage_kind(cfg: Config) -> str:
    """`local`, `database` or `s3` for this configuration (`auto`: database on PostgreSQL, else local)."""
    choice = cfg.storage
    if choice == STORAGE_AUTO:
        return STORAGE_LOCAL if cfg.is_sqlite else STORAGE_DATABASE
    return "s3" if choice.startswith("s3://") else choice


def open_store(cfg: Config, session_factory: sessionmaker[Session] | None = None) -> BlobStore:
    """The store `cfg` asks for; the database store uses `session_factory` (the caller's database)."""
    kind = storage_kind(cfg)
    if kind == STORAGE_LOCAL:
        return LocalStore(cfg.data_dir)
    if kind == STORAGE_DATABASE:
        if session_factory is None:
            from core.db import open_database

            _, session_factory = open_database(cfg.database_url)
        return DatabaseStore(session_factory)
    bucket, _, prefix = cfg.storage.removeprefix("s3://").partition("/")
    return S3Store(bucket, prefix, cfg.s3_endpoint_url)


def key_under(data_dir: Path | str, path: Path | str) -> str | None:
    """The storage key of a file written under `data_dir` (None when it lies outside)."""
    try:
        return Path(path).resolve().relative_to(Path(data_dir).resolve()).as_posix()
    except ValueError:
        return None


def publish(store: BlobStore, key: str, local_path: Path | str) -> None:
    """Copy a file just written to the local data directory into the store (no-op for the same directory)."""
    if isinstance(store, LocalStore) and store.path(key) == Path(local_path).resolve():
        return
    store.put(key, Path(local_path).read_bytes())


def read_with_fallback(store: BlobStore, key: str, legacy_path: Path | str | None = None) -> bytes:
    """The bytes under `key`; else the file at `legacy_path` (written before shared storage), copied into the store."""
    try:
        return store.get(key)
    except BlobMissing:
        if not legacy_path or not Path(legacy_path).is_file():
            raise
    data = Path(legacy_path).read_bytes()
    try:
        store.put(key, data)  # the next host finds it in the store
    except Exception:  # serving the file matters more than migrating it now
        log.warning("could not copy %s into %s storage; served from %s", key, store.kind, legacy_path, exc_info=True)
    return data


def sync_directory(store: BlobStore, data_dir: Path | str) -> tuple[int, int]:
    """Copy the data directory's reports and evidence files into `store`; return (copied, already there)."""
    local = LocalStore(data_dir)
    copied = present = 0
    for top in SYNCED_DIRS:
        for key in local.keys(f"{top}/"):
            if store.exists(key):
                present += 1
                continue
            store.put(key, local.get(key))
            copied += 1
    return copied, present


def cached_store(cfg: Config, session_factory: sessionmaker[Session], cache: dict) -> BlobStore:
    """`open_store` once per app: `cache` is where to keep it (a Flask app's `extensions`)."""
    store = cache.get("carbontrack_store")
    if store is None:
        store = cache["carbontrack_store"] = open_store(cfg, session_factory)
    return store
