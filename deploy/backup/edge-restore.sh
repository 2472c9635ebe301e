#!/usr/bin/env bash
# Restore an Anju edge node's state from an edge-backup.sh archive. Stop anju-edge first.
#
#   edge-restore.sh --archive edge-gate-1-<time>.tar.gz --data-dir /var/lib/anju/edge --yes
#
# Checksums and SQLite integrity are verified before anything is touched; each file is then
# renamed into place atomically. Events in a restored outbox that central already has are
# sent again and dropped there as duplicates (central deduplicates by node and sequence).
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

ARCHIVE=""
DATA_DIR=""
YES=0
while [ $# -gt 0 ]; do
    case "$1" in
        --archive) ARCHIVE=${2:?}; shift 2 ;;
        --data-dir) DATA_DIR=${2:?}; shift 2 ;;
        --yes) YES=1; shift ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) die "unknown option: $1" ;;
    esac
done
[ -n "$ARCHIVE" ] && [ -f "$ARCHIVE" ] || die "--archive FILE is required and must exist"
[ -n "$DATA_DIR" ] || die "--data-dir DIR is required (the edge config's data_dir)"
[ "$YES" = 1 ] || die "this replaces the node's outbox and whitelist in $DATA_DIR; stop anju-edge and re-run with --yes"
if command -v systemctl >/dev/null && systemctl is-active --quiet anju-edge.service 2>/dev/null; then
    die "anju-edge.service is running: systemctl stop anju-edge first"
fi

STAGE=$(mktemp -d)
trap 'rm -rf -- "$STAGE"' EXIT
tar -C "$STAGE" -xzf "$ARCHIVE" || die "$ARCHIVE: cannot unpack"
[ -f "$STAGE/MANIFEST.sha256" ] || die "$ARCHIVE: no MANIFEST.sha256 (not an edge backup)"
(cd "$STAGE" && sha256sum --check --quiet MANIFEST.sha256) \
    || die "$ARCHIVE: checksums do not match, the backup is damaged; nothing was changed"
mapfile -t NAMES < <(cd "$STAGE" && awk '{print $2}' MANIFEST.sha256)
for name in "${NAMES[@]}"; do
    case "$name" in
        *.sqlite|*.db|*.sqlite3) sqlite_check "$STAGE/$name" || die "$name in $ARCHIVE is damaged; nothing was changed" ;;
    esac
done
mkdir -p -- "$DATA_DIR"
for name in "${NAMES[@]}"; do
    replace_file "$STAGE/$name" "$DATA_DIR/$name"
done
say "restored ${#NAMES[@]} files into $DATA_DIR"
