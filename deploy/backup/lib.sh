# Shared helpers for the Anju backup/restore scripts (sourced, not run).
# Needs: bash, python3 (stdlib only), sha256sum, tar; pg_dump/pg_restore for PostgreSQL.

PYTHON=${PYTHON:-python3}

die() { echo "$(basename "$0"): error: $*" >&2; exit 1; }
say() { echo "$(basename "$0"): $*" >&2; }

# sqlite_backup SRC DEST: a consistent copy of a live database through SQLite's online backup API
# (readers and writers may continue; committed WAL content is included), then an integrity check.
sqlite_backup() {
    "$PYTHON" - "$1" "$2" <<'PY'
import os, sqlite3, sys
src_path, dest_path = sys.argv[1], sys.argv[2]
if not os.path.isfile(src_path):
    sys.exit(f"sqlite backup: {src_path}: no such database file")
src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
dst = sqlite3.connect(dest_path)
with dst:
    src.backup(dst, pages=1024)
ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
dst.close(); src.close()
if ok != "ok":
    sys.exit(f"sqlite backup: {dest_path}: integrity check failed: {ok}")
fd = os.open(dest_path, os.O_RDONLY); os.fsync(fd); os.close(fd)
PY
}

# sqlite_check FILE: exit non-zero unless FILE is an intact SQLite database
sqlite_check() {
    "$PYTHON" - "$1" <<'PY'
import sqlite3, sys
try:
    con = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    ok = con.execute("PRAGMA integrity_check").fetchone()[0]
except sqlite3.Error as exc:
    sys.exit(f"{sys.argv[1]}: not a usable SQLite database: {exc}")
if ok != "ok":
    sys.exit(f"{sys.argv[1]}: integrity check failed: {ok}")
PY
}

# replace_file NEW TARGET: put NEW in place of TARGET atomically (same folder, fsync, rename),
# dropping TARGET's stale -wal/-shm files first so they are never replayed onto the new database.
replace_file() {
    local new=$1 target=$2 tmp
    tmp="$(dirname "$target")/.$(basename "$target").restore-$$"
    cp -- "$new" "$tmp"
    "$PYTHON" -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd)' "$tmp"
    rm -f -- "$target-wal" "$target-shm" "$target-journal"
    mv -f -- "$tmp" "$target"
    "$PYTHON" -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd)' "$(dirname "$target")"
}

# sqlite_path_from_url sqlite:///abs/path or sqlite:///rel/path -> path
sqlite_path_from_url() {
    local url=$1
    case "$url" in
        sqlite:////*) echo "/${url#sqlite:////}" ;;
        sqlite:///*) echo "${url#sqlite:///}" ;;
        *) return 1 ;;
    esac
}

# libpq_url URL: SQLAlchemy's postgresql+psycopg://… as libpq's postgresql://…
libpq_url() {
    local url=$1
    echo "postgresql://${url#*://}"
}
