#!/usr/bin/env bash
# Restore Anju central's database from a central-backup.sh backup. Stop every central instance first.
#
#   central-restore.sh --manifest /var/backups/anju/central-<time>.sha256 [--url URL] [--data-dir DIR] --yes
#
# The manifest's checksums are verified before anything is touched.
#   PostgreSQL: pg_restore --clean --if-exists in one transaction (all or nothing) into URL's database.
#   SQLite:     the copy is integrity-checked, then renamed over the database file atomically.
# With --data-dir the data archive is unpacked over that folder as well.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

MANIFEST=""
URL=${ANJU_DATABASE_URL:-}
DATA_DIR=""
YES=0
while [ $# -gt 0 ]; do
    case "$1" in
        --manifest) MANIFEST=${2:?}; shift 2 ;;
        --url) URL=${2:?}; shift 2 ;;
        --data-dir) DATA_DIR=${2:?}; shift 2 ;;
        --yes) YES=1; shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) die "unknown option: $1" ;;
    esac
done
[ -n "$MANIFEST" ] || die "--manifest FILE is required (central-<time>.sha256)"
[ -f "$MANIFEST" ] || die "$MANIFEST: not found"
if [ -z "$URL" ]; then
    [ -n "$DATA_DIR" ] || die "no database: pass --url, set ANJU_DATABASE_URL, or give --data-dir"
    URL="sqlite:///$DATA_DIR/anju.db"
fi
[ "$YES" = 1 ] || die "this replaces the database at $URL; stop central and re-run with --yes"

DIR=$(cd "$(dirname "$MANIFEST")" && pwd)
(cd "$DIR" && sha256sum --check --quiet -- "$(basename "$MANIFEST")") \
    || die "checksums in $MANIFEST do not match: the backup is damaged, nothing was changed"
STAMP=$(basename "$MANIFEST" .sha256); STAMP=${STAMP#central-}

case "$URL" in
    postgresql*|postgres*)
        FILE="$DIR/central-$STAMP.pgdump"
        [ -f "$FILE" ] || die "$FILE: the manifest has no PostgreSQL dump (is this a SQLite backup?)"
        command -v pg_restore >/dev/null || die "pg_restore not found (apt-get install postgresql-client)"
        pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error \
            --dbname "$(libpq_url "$URL")" "$FILE" || die "pg_restore failed; the transaction was rolled back"
        ;;
    sqlite:*)
        FILE="$DIR/central-$STAMP.sqlite"
        [ -f "$FILE" ] || die "$FILE: the manifest has no SQLite copy (is this a PostgreSQL backup?)"
        TARGET=$(sqlite_path_from_url "$URL") || die "cannot read the SQLite path from $URL"
        sqlite_check "$FILE" || die "$FILE is damaged; nothing was changed"
        mkdir -p -- "$(dirname "$TARGET")"
        replace_file "$FILE" "$TARGET"
        ;;
    *) die "unsupported database URL (postgresql or sqlite): $URL" ;;
esac
say "database restored from $(basename "$FILE")"

if [ -n "$DATA_DIR" ] && [ -f "$DIR/central-data-$STAMP.tar.gz" ]; then
    mkdir -p -- "$DATA_DIR"
    tar -C "$DATA_DIR" -xzf "$DIR/central-data-$STAMP.tar.gz"
    say "data folder restored into $DATA_DIR"
fi
