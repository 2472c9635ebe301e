#!/usr/bin/env bash
# Back up Anju central's database (and optionally its data folder: photos, exports).
#
#   central-backup.sh --out /var/backups/anju [--url URL] [--data-dir /var/lib/anju] [--keep 14]
#
# URL defaults to $ANJU_DATABASE_URL, else sqlite:///<data-dir>/anju.db.
#   PostgreSQL: pg_dump --format=custom (consistent snapshot; central keeps running).
#   SQLite:     the online backup API (consistent while central keeps writing).
# Writes central-<UTC time>.{pgdump|sqlite}[, central-data-<time>.tar.gz] and a .sha256 manifest;
# prints the manifest's path. --keep N deletes all but the newest N backups in --out.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

OUT=""
URL=${ANJU_DATABASE_URL:-}
DATA_DIR=""
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=${2:?}; shift 2 ;;
        --url) URL=${2:?}; shift 2 ;;
        --data-dir) DATA_DIR=${2:?}; shift 2 ;;
        --keep) KEEP=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) die "unknown option: $1" ;;
    esac
done
[ -n "$OUT" ] || die "--out DIR is required"
[[ "$KEEP" =~ ^[0-9]+$ ]] || die "--keep takes a number"
if [ -z "$URL" ]; then
    [ -n "$DATA_DIR" ] || die "no database: pass --url, set ANJU_DATABASE_URL, or give --data-dir"
    URL="sqlite:///$DATA_DIR/anju.db"
fi
mkdir -p -- "$OUT"
umask 077   # backups hold personal data
TS=$(date -u +%Y%m%dT%H%M%SZ)
FILES=()

case "$URL" in
    postgresql*|postgres*)
        command -v pg_dump >/dev/null || die "pg_dump not found (apt-get install postgresql-client)"
        DEST="$OUT/central-$TS.pgdump"
        pg_dump --format=custom --no-owner --no-privileges --file "$DEST.part" "$(libpq_url "$URL")" \
            || { rm -f -- "$DEST.part"; die "pg_dump failed"; }
        mv -- "$DEST.part" "$DEST"
        ;;
    sqlite:*)
        SRC=$(sqlite_path_from_url "$URL") || die "cannot read the SQLite path from $URL"
        DEST="$OUT/central-$TS.sqlite"
        sqlite_backup "$SRC" "$DEST.part" || { rm -f -- "$DEST.part"; die "SQLite backup of $SRC failed"; }
        mv -- "$DEST.part" "$DEST"
        ;;
    *) die "unsupported database URL (postgresql or sqlite): $URL" ;;
esac
FILES+=("$(basename "$DEST")")

if [ -n "$DATA_DIR" ]; then
    [ -d "$DATA_DIR" ] || die "--data-dir $DATA_DIR: not a folder"
    TAR="central-data-$TS.tar.gz"
    tar -C "$DATA_DIR" --exclude='./anju.db' --exclude='./anju.db-*' -czf "$OUT/$TAR" .
    FILES+=("$TAR")
fi

MANIFEST="$OUT/central-$TS.sha256"
(cd "$OUT" && sha256sum -- "${FILES[@]}") > "$MANIFEST"
say "backup written: ${FILES[*]} (manifest $(basename "$MANIFEST"))"

if [ "$KEEP" -gt 0 ]; then
    mapfile -t OLD < <(cd "$OUT" && ls -1 central-*.sha256 2>/dev/null | sort -r | tail -n +$((KEEP + 1)))
    for m in "${OLD[@]}"; do
        stamp=${m#central-}; stamp=${stamp%.sha256}
        rm -f -- "$OUT/central-$stamp.pgdump" "$OUT/central-$stamp.sqlite" "$OUT/central-data-$stamp.tar.gz" "$OUT/$m"
        say "removed old backup $stamp"
    done
fi
echo "$MANIFEST"
