#!/usr/bin/env bash
# Restore a Carbon Track backup made by deploy/backup.sh.
#
#   deploy/restore.sh BACKUP_DIR
#
# Restores into the (empty, existing) database named by CARBONTRACK_DATABASE_URL and unpacks the
# data directory into CARBONTRACK_DATA_DIR. Stop the web, worker, listener and scheduler first;
# create the database with `createdb -O carbontrack carbontrack` if it does not exist. Refuses a
# database that already has Carbon Track tables unless RESTORE_OVER_EXISTING=1 (then it drops and
# recreates the objects in the dump). Checks SHA256SUMS first. Afterwards run
# `carbontrack init-db` (upgrades the schema if the backup is older than the code).
set -euo pipefail

die() { printf 'restore: %s\n' "$*" >&2; exit 1; }

backup="${1:-}"
[ -n "$backup" ] && [ -d "$backup" ] || die "usage: restore.sh BACKUP_DIR (made by deploy/backup.sh)"
url="${CARBONTRACK_DATABASE_URL:-}"
case "$url" in
    postgresql*) ;;
    *) die "CARBONTRACK_DATABASE_URL must name the PostgreSQL database to restore into" ;;
esac
libpq_url="$(printf '%s' "$url" | sed -E 's#^postgresql\+[a-z0-9]+://#postgresql://#')"
data_dir="${CARBONTRACK_DATA_DIR:-var/}"

(cd "$backup" && sha256sum --check --quiet SHA256SUMS) || die "SHA256SUMS does not match: the backup is damaged"
tables="$(psql "$libpq_url" -Atqc "select count(*) from information_schema.tables where table_name = 'alembic_version'")"
clean=()
if [ "$tables" != "0" ]; then
    [ "${RESTORE_OVER_EXISTING:-0}" = "1" ] || die "the target database already holds Carbon Track tables (set RESTORE_OVER_EXISTING=1 to replace them)"
    clean=(--clean --if-exists)
fi
pg_restore --no-owner --no-privileges --exit-on-error "${clean[@]}" --dbname "$libpq_url" "$backup/carbontrack.dump"
mkdir -p "$data_dir"
tar -xzf "$backup/data.tar.gz" -C "$data_dir"
printf 'restored %s into the database and %s\n' "$backup" "$data_dir"
