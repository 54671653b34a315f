#!/usr/bin/env bash
# Back up Carbon Track: the PostgreSQL database (pg_dump, custom format) and the data directory.
#
#   deploy/backup.sh [OUT_DIR]          (default: ./backups/carbontrack-<UTC timestamp>)
#
# Reads CARBONTRACK_DATABASE_URL and CARBONTRACK_DATA_DIR like every Carbon Track process (e.g. from
# /etc/carbontrack/carbontrack.env). With shared storage in the database (the default on PostgreSQL)
# the workbooks and evidence files are inside the dump, consistent with the rows that name them;
# the data directory adds files written before shared storage and OTA images. Cache is skipped.
# pg_dump takes a consistent snapshot while the system runs; no process needs to stop.
# Writes carbontrack.dump, data.tar.gz and SHA256SUMS; prints the directory. Exit code non-zero on
# any failure (set -e), so a cron job or systemd timer notices.
set -euo pipefail

die() { printf 'backup: %s\n' "$*" >&2; exit 1; }

url="${CARBONTRACK_DATABASE_URL:-}"
[ -n "$url" ] || die "CARBONTRACK_DATABASE_URL is not set"
case "$url" in
    postgresql*) ;;
    *) die "CARBONTRACK_DATABASE_URL is not PostgreSQL; for the SQLite demo copy var/ while it is stopped" ;;
esac
# SQLAlchemy's driver suffix (postgresql+psycopg2://) means nothing to libpq.
libpq_url="$(printf '%s' "$url" | sed -E 's#^postgresql\+[a-z0-9]+://#postgresql://#')"
data_dir="${CARBONTRACK_DATA_DIR:-var/}"
out="${1:-./backups/carbontrack-$(date -u +%Y%m%dT%H%M%SZ)}"

command -v pg_dump >/dev/null || die "pg_dump not found (apt-get install postgresql-client)"
mkdir -p "$out"
pg_dump --format=custom --no-owner --no-privileges --file "$out/carbontrack.dump" "$libpq_url"
if [ -d "$data_dir" ]; then
    tar -czf "$out/data.tar.gz" -C "$data_dir" --exclude=./cache --exclude='*.tmp' .
else
    tar -czf "$out/data.tar.gz" --files-from /dev/null
fi
(cd "$out" && sha256sum carbontrack.dump data.tar.gz > SHA256SUMS)
printf '%s\n' "$out"
