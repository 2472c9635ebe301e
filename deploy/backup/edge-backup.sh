#!/usr/bin/env bash
# Back up an Anju edge node's state: the event outbox (SQLite, copied through the online backup
# API while the node runs), the cached whitelist and any saved index files.
#
#   edge-backup.sh --data-dir /var/lib/anju/edge --out /var/backups/anju-edge [--keep 7]
#
# Writes edge-<host>-<UTC time>.tar.gz holding the files and a MANIFEST.sha256; prints its path.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

DATA_DIR=""
OUT=""
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --data-dir) DATA_DIR=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --keep) KEEP=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) die "unknown option: $1" ;;
    esac
done
[ -n "$DATA_DIR" ] || die "--data-dir DIR is required (the edge config's data_dir)"
[ -d "$DATA_DIR" ] || die "--data-dir $DATA_DIR: not a folder"
[ -n "$OUT" ] || die "--out DIR is required"
[[ "$KEEP" =~ ^[0-9]+$ ]] || die "--keep takes a number"
mkdir -p -- "$OUT"
umask 077
TS=$(date -u +%Y%m%dT%H%M%SZ)
HOST=$(hostname -s 2>/dev/null || echo edge)
STAGE=$(mktemp -d "$OUT/.edge-backup-XXXXXX")
trap 'rm -rf -- "$STAGE"' EXIT

shopt -s nullglob
count=0
for f in "$DATA_DIR"/*; do
    name=$(basename "$f")
    [ -f "$f" ] || continue
    case "$name" in
        *-wal|*-shm|*-journal|*.tmp-*|.*) continue ;;   # folded into the backup copy / leftovers
        *.sqlite|*.db|*.sqlite3) sqlite_backup "$f" "$STAGE/$name" || die "SQLite backup of $f failed" ;;
        # other files (whitelist cache, index files) are replaced atomically by their writers,
        # so a plain copy is a complete old or new version
        *) cp -p -- "$f" "$STAGE/$name" ;;
    esac
    count=$((count + 1))
done
[ "$count" -gt 0 ] || die "$DATA_DIR holds no files to back up"
(cd "$STAGE" && sha256sum -- * > MANIFEST.sha256)
ARCHIVE="$OUT/edge-$HOST-$TS.tar.gz"
tar -C "$STAGE" -czf "$ARCHIVE.part" .
mv -- "$ARCHIVE.part" "$ARCHIVE"
say "backup written: $ARCHIVE ($count files)"

if [ "$KEEP" -gt 0 ]; then
    mapfile -t OLD < <(cd "$OUT" && ls -1 edge-"$HOST"-*.tar.gz 2>/dev/null | sort -r | tail -n +$((KEEP + 1)))
    for a in "${OLD[@]}"; do rm -f -- "$OUT/$a"; say "removed old backup $a"; done
fi
echo "$ARCHIVE"
