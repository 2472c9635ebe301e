"""``anju gateway …``: broker configuration for a site, Ed25519 keys, JSON Schema export."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from anju.errors import AnjuError

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    parser = sub.add_parser("gateway", help="MQTT link: broker config, keys, message schemas")
    gsub = parser.add_subparsers(dest="gateway_cmd", metavar="CMD")

    p = gsub.add_parser("broker-config", help="Mosquitto config, ACL, CA and identities for a site")
    p.add_argument("--site", required=True, help="site id")
    p.add_argument(
        "--out", required=True, type=Path, help="directory to write (existing identities are kept)"
    )
    p.add_argument("--nodes", default="", help="comma-separated edge node ids")
    p.add_argument("--port", type=int, default=8883)
    p.add_argument("--bind", default="0.0.0.0", help="listener address")
    p.add_argument("--host", action="append", default=None, help="broker DNS name (repeatable)")
    p.add_argument("--ip", action="append", default=None, help="broker IP address (repeatable)")
    p.add_argument("--broker-user", default="mosquitto", help="user mosquitto drops privileges to")
    p.set_defaults(func=_broker_config)

    p = gsub.add_parser("keygen", help="create an Ed25519 signing key pair (PEM)")
    p.add_argument("--out", required=True, type=Path, help="private key path; public key goes to *.pub.pem")
    p.set_defaults(func=_keygen)

    p = gsub.add_parser("export-schemas", help="write JSON Schema of every message")
    p.add_argument("--out", type=Path, default=Path("docs/schemas"))
    p.add_argument("--check", action="store_true", help="only report files that differ (exit 1)")
    p.set_defaults(func=_export_schemas)

    p = gsub.add_parser("outbox-status", help="depth, bytes and drops of an edge node's outbox")
    p.add_argument("path", type=Path, help="the outbox SQLite file")
    p.set_defaults(func=_outbox_status)

    p = gsub.add_parser("dead-letters", help="latest messages central refused, with reasons")
    p.add_argument("--db", required=True, help="central's database URL (SQLAlchemy)")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=_dead_letters)

    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _dead_letters(args: argparse.Namespace) -> int:
    import json
    import sys

    import sqlalchemy as sa

    from gateway.store import SqlEventStore

    engine = sa.create_engine(args.db)
    try:
        letters = SqlEventStore(engine).dead_letters(args.limit)
    except sa.exc.SQLAlchemyError as exc:
        raise AnjuError(f"{args.db}: cannot read gateway_dead_letters: {exc}") from exc
    finally:
        engine.dispose()
    for d in letters:
        row = {
            "received_at": d.received_at.isoformat(),
            "reason": d.reason,
            "topic": d.topic,
            "detail": d.detail,
            "payload_head": d.payload[:200].decode("utf-8", errors="replace"),
        }
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


def _outbox_status(args: argparse.Namespace) -> int:
    import json
    import sys

    from anju.clock import SystemClock
    from gateway.outbox import Outbox

    if not args.path.exists():
        raise AnjuError(f"{args.path}: no outbox here")
    box = Outbox(args.path, 1 << 40, SystemClock())
    try:
        oldest = box.peek(0, 1)
        status = {
            "path": str(args.path),
            "events": box.depth(),
            "bytes": box.bytes_used(),
            "dropped_total": box.dropped_total(),
            "oldest_seq": oldest[0].seq if oldest else None,
            "next_seq": box.next_seq(),
        }
    finally:
        box.close()
    sys.stdout.write(json.dumps(status) + "\n")
    return 0


def _broker_config(args: argparse.Namespace) -> int:
    from gateway.broker_config import generate

    nodes = [n.strip() for n in args.nodes.split(",") if n.strip()]
    files = generate(
        args.site,
        args.out,
        nodes,
        port=args.port,
        bind_address=args.bind,
        hostnames=args.host or ["localhost"],
        ip_addresses=args.ip or ["127.0.0.1"],
        broker_user=args.broker_user,
    )
    log.info(
        "wrote %s (ACL %s) for site %s, nodes: %s", files.conf, files.acl, args.site, ", ".join(nodes) or "-"
    )
    log.info("start the broker with: mosquitto -c %s", files.conf)
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from gateway.signing import generate_private_key, key_id_of, save_private_key, save_public_key

    out: Path = args.out
    if out.exists():
        raise AnjuError(f"{out}: exists; refusing to overwrite a signing key")
    key = generate_private_key()
    save_private_key(key, out)
    pub = out.with_name(out.name.removesuffix(".pem") + ".pub.pem")
    save_public_key(key.public_key(), pub)
    log.info("wrote %s and %s (key id %s)", out, pub, key_id_of(key.public_key()))
    return 0


def _export_schemas(args: argparse.Namespace) -> int:
    from gateway.schemas import export_schemas, stale_schemas

    if args.check:
        stale = stale_schemas(args.out)
        for name in stale:
            log.error(
                "%s: out of date; run `anju gateway export-schemas --out %s`", args.out / name, args.out
            )
        return 1 if stale else 0
    written = export_schemas(args.out)
    log.info("wrote %d schemas to %s", len(written), args.out)
    return 0
