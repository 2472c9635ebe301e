"""``anju central …``: serve, migrate, create-user, audit-verify, audit-purge."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from central.settings import load_settings

    return load_settings(getattr(args, "config", None))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from central.app import create_app
    from central.migrate import upgrade

    settings = _settings(args)
    if settings.effective_database_url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not args.no_migrate:
        upgrade(settings.effective_database_url)
    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from central.migrate import upgrade

    settings = _settings(args)
    if settings.effective_database_url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    log.info("database at head")
    return 0


def _create_user(args: argparse.Namespace) -> int:
    from anju.clock import SystemClock
    from central.db import make_engine, make_session_factory
    from central.services import audit
    from central.services.users import create_user

    settings = _settings(args)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    engine = make_engine(settings.effective_database_url)
    clock = SystemClock()
    with make_session_factory(engine)() as session:
        user = create_user(
            session,
            username=args.username,
            password=password,
            role=args.role,
            site_ids=args.site or [],
            display_name=args.display_name or "",
            now=clock.now(),
        )
        audit.record(
            session,
            actor=audit.SYSTEM,
            action="create",
            object_type="user",
            object_id=user.id,
            reason="cli create-user",
            detail={"username": user.username, "role": user.role, "site_ids": user.site_ids},
            now=clock.now(),
        )
        session.commit()
        log.info("created user %s (%s) id=%s", user.username, user.role, user.id)
    engine.dispose()
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    import json

    from central.db import make_engine, make_session_factory
    from central.services.audit import check_anchor, verify

    settings = _settings(args)
    engine = make_engine(settings.effective_database_url)
    anchor_ok = None
    with make_session_factory(engine)() as session:
        r = verify(session)
        if args.anchor:
            seq, _, digest = args.anchor.partition(":")
            anchor_ok = check_anchor(session, int(seq), digest)
    engine.dispose()
    sys.stdout.write(json.dumps({**r.__dict__, "anchor_ok": anchor_ok}) + "\n")
    return 0 if r.ok and anchor_ok is not False else 1


def _audit_purge(args: argparse.Namespace) -> int:
    from anju.clock import SystemClock
    from central.db import make_engine, make_session_factory
    from central.services.audit import purge_expired

    settings = _settings(args)
    engine = make_engine(settings.effective_database_url)
    with make_session_factory(engine)() as session:
        n = purge_expired(session, retention_days=settings.audit.retention_days, now=SystemClock().now())
    engine.dispose()
    log.info("purged %d audit records older than %d days", n, settings.audit.retention_days)
    return 0


def _enrol_folder(args: argparse.Namespace) -> int:
    """Bulk-enrol photos named by ID number or person id from a folder, printing a JSON report."""
    import json

    from anju.clock import SystemClock
    from central.db import make_engine, make_session_factory
    from central.services import audit
    from central.services.bulk_enrolment import enrol_items, read_folder
    from recognition.pipeline import FacePipeline

    settings = _settings(args)
    if not args.dir.is_dir():
        from central.errors import ValidationFailed

        raise ValidationFailed(f"{args.dir}: 目录不存在", f"{args.dir}: not a folder")
    engine = make_engine(settings.effective_database_url)
    pipeline = FacePipeline.from_config(settings.enrolment.recognition, settings.enrolment.model_dir)
    items = list(read_folder(args.dir))
    results: list[dict[str, object]] = []
    counts = {"ok": 0, "failed": 0}

    def progress(ok: bool, row: dict[str, object]) -> None:
        counts["ok" if ok else "failed"] += 1
        results.append(row)
        log.info("%d/%d %s %s", len(results), len(items), row.get("file"), "ok" if ok else row.get("error"))

    with make_session_factory(engine)() as session:
        enrol_items(
            session,
            args.site,
            items,
            progress,
            pipeline=pipeline,
            limits=settings.enrolment,
            clock=SystemClock(),
            audit_actor=audit.SYSTEM,
            reason=args.reason,
        )
    engine.dispose()
    sys.stdout.write(json.dumps({**counts, "total": len(items), "rows": results}, ensure_ascii=False) + "\n")
    return 0 if counts["failed"] == 0 else 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``central`` command group."""
    p = sub.add_parser("central", help="central service (registry, access, events, audit)")
    csub = p.add_subparsers(dest="central_cmd", metavar="ACTION")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--config", type=Path, default=None, help="YAML settings file (ANJU_* env wins)")

    s = csub.add_parser("serve", help="run the HTTP API")
    common(s)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--no-migrate", action="store_true", help="do not upgrade the database first")
    s.set_defaults(func=_serve)

    m = csub.add_parser("migrate", help="upgrade the database to the newest schema")
    common(m)
    m.set_defaults(func=_migrate)

    u = csub.add_parser("create-user", help="create a user")
    common(u)
    u.add_argument("--username", required=True)
    u.add_argument("--role", required=True, help="admin, property_manager, guard, police, grid_worker")
    u.add_argument("--site", action="append", help="site id the user may act on (repeat)")
    u.add_argument("--display-name", default="")
    u.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    u.set_defaults(func=_create_user)

    v = csub.add_parser("audit-verify", help="verify the audit log hash chain (exit 1 if broken)")
    common(v)
    v.add_argument("--anchor", default=None, help="SEQ:HASH noted from an earlier run (detects truncation)")
    v.set_defaults(func=_audit_verify)

    pg = csub.add_parser("audit-purge", help="delete audit records past the retention period (>= 183 days)")
    common(pg)
    pg.set_defaults(func=_audit_purge)

    e = csub.add_parser("enrol-folder", help="bulk-enrol photos named <id_number>.jpg from a folder")
    common(e)
    e.add_argument("--site", required=True, help="site id")
    e.add_argument("--dir", type=Path, required=True, help="folder of photos")
    e.add_argument("--reason", default="bulk enrolment from folder", help="recorded in the audit log")
    e.set_defaults(func=_enrol_folder)
