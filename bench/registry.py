"""``anju bench registry``: registry import, person search, enrolment and audit figures.

On each database (a SQLite file; PostgreSQL in a throwaway database):

* ``import``: rows/s of the all-or-nothing spreadsheet import of a generated compound
  (houses, then ~2.5 residents per household) through :mod:`central.services.import_export`;
  baseline: the same residents created one HTTP ``POST /api/v1/persons`` at a time (a sample);
* ``search``: p50/p95 ms of ``GET /api/v1/persons?q=…`` (name fragment, ID number);
* ``duplicates``: ms to scan N stored templates for a duplicate face (:func:`find_duplicates`),
  baseline: the same scan in memory with numpy;
* ``audit_verify``: records/s of the hash-chain verification;
* ``enrol`` (once): ms per real photo through the real face pipeline (decode → detect → quality →
  embed → duplicate scan → store).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print only the JSON figures")
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument(
        "--templates", type=int, default=100_000, help="stored templates for the duplicate scan"
    )
    parser.add_argument(
        "--pg-url", default=PG_DEFAULT, help="PostgreSQL server (a throwaway database is used)"
    )
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--photos", type=Path, default=Path("../shared/testdata/examples/knn_examples/train"))


def _id_number(i: int, region: str = "330106") -> str:
    from central.idcard import check_digit

    first17 = f"{region}{1950 + i % 60}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return first17 + check_digit(first17)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def _tables(households: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    houses, people = [], []
    per_floor, floors = 4, 18
    n = 0
    for h in range(households):
        b, rest = divmod(h, per_floor * floors * 2)
        unit, rest = divmod(rest, per_floor * floors)
        floor, room = divmod(rest, per_floor)
        key = {"楼栋": str(b + 1), "单元": str(unit + 1), "户号": f"{floor + 1}{room + 1:02d}"}
        houses.append({**key, "楼层": str(floor + 1), "用途": "出租" if h % 7 == 0 else "自住"})
        for k in range(2 + h % 2 + (1 if h % 5 == 0 else 0)):
            name = SURNAMES[n % len(SURNAMES)] + GIVEN[(n * 7) % len(GIVEN)] + GIVEN[(n * 3) % len(GIVEN)]
            people.append(
                {**key, "姓名": name, "身份证号": _id_number(n), "类型": "业主" if k == 0 else "家属"}
            )
            n += 1
    return houses, people


def _run_db(url: str, args: argparse.Namespace, label: str) -> dict[str, Any]:
    import numpy as np
    from fastapi.testclient import TestClient
    from sqlalchemy import insert, select

    from anju.clock import SystemClock
    from central.app import create_app
    from central.db import create_all, make_engine, make_session_factory
    from central.models.biometrics import Consent, FaceTemplate
    from central.models.registry import Person, Site
    from central.security import issue_token
    from central.services import audit
    from central.services import import_export as ie
    from central.services.enrolment import find_duplicates
    from central.services.users import create_user
    from central.settings import CentralSettings

    out: dict[str, Any] = {}
    engine = make_engine(url)
    create_all(engine)
    factory = make_session_factory(engine)
    clock = SystemClock()
    now = clock.now()
    houses, people = _tables(args.households)
    with factory() as s:
        site = Site(name="基准小区", code=f"bench-{uuid.uuid4().hex[:6]}", created_at=now, updated_at=now)
        s.add(site)
        s.commit()
        site_id = site.id
        t0 = time.perf_counter()
        ie.import_houses(s, site_id, houses, now)
        t1 = time.perf_counter()
        ie.import_persons(s, site_id, people, "admin", now)
        t2 = time.perf_counter()
    out["import"] = {
        "houses": len(houses),
        "residents": len(people),
        "houses_rows_per_s": round(len(houses) / (t1 - t0), 1),
        "residents_rows_per_s": round(len(people) / (t2 - t1), 1),
    }
    settings = CentralSettings(environment="test", secret_key="b" * 40, database_url=url)
    app = create_app(settings, clock=clock, engine=engine)
    with factory() as s:
        admin = create_user(
            s,
            username=f"bench{uuid.uuid4().hex[:6]}",
            password="bench-password",
            role="admin",
            site_ids=[],
            now=now,
        )
        token = issue_token(settings.secret_key, admin.id, 0, now, 3600)
    h = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        sample = 300
        t0 = time.perf_counter()
        for i in range(sample):
            r = client.post(
                "/api/v1/persons",
                json={"site_id": site_id, "name": "单条", "id_number": _id_number(i, region="110105")},
                headers=h,
            )
            assert r.status_code == 201, r.text
        out["import"]["baseline_single_post_rows_per_s"] = round(sample / (time.perf_counter() - t0), 1)
        lat: list[float] = []
        queries = [p["姓名"][:2] for p in people[:: max(1, len(people) // 100)]] + [
            p["身份证号"] for p in people[::500]
        ]
        for q in queries:
            t0 = time.perf_counter()
            r = client.get("/api/v1/persons", params={"site_id": site_id, "q": q, "limit": 50}, headers=h)
            lat.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
        out["search"] = {
            "queries": len(lat),
            "p50_ms": _pct(lat, 0.5),
            "p95_ms": _pct(lat, 0.95),
            "persons": len(people) + sample,
        }
    # duplicate scan over N stored templates
    rng = np.random.default_rng(1)
    with factory() as s:
        pids = list(s.scalars(select(Person.id).where(Person.site_id == site_id).limit(2000)))
        consents = {}
        for pid in pids:
            c = Consent(site_id=site_id, person_id=pid, granted_by="self", granted_at=now)
            s.add(c)
            s.flush()
            consents[pid] = c.id
        vecs = rng.standard_normal((args.templates, 512)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        rows = [
            {
                "id": str(uuid.uuid4()),
                "site_id": site_id,
                "person_id": pids[i % len(pids)],
                "consent_id": consents[pids[i % len(pids)]],
                "model_id": "bench",
                "dim": 512,
                "vector": vecs[i].tobytes(),
                "quality": 1.0,
                "photo_sha256": "0" * 64,
                "created_at": now,
            }
            for i in range(args.templates)
        ]
        for i in range(0, len(rows), 5000):
            s.execute(insert(FaceTemplate), rows[i : i + 5000])
        s.commit()
        probe = vecs[123]
        t0 = time.perf_counter()
        find_duplicates(s, site_id, "nobody", "bench", probe, 0.5)
        cold_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        dups = find_duplicates(s, site_id, "nobody", "bench", probe, 0.5)
        scan_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        base = np.flatnonzero(vecs @ probe >= 0.5)
        numpy_ms = (time.perf_counter() - t0) * 1000
        assert len(dups) >= 1 and len(base) >= 1
        out["duplicates"] = {
            "templates": args.templates,
            "first_scan_with_load_ms": round(cold_ms, 1),
            "scan_ms": round(scan_ms, 1),
            "baseline_in_memory_numpy_ms": round(numpy_ms, 2),
        }
        for i in range(5000):
            audit.record(
                s,
                actor=audit.SYSTEM,
                action="view",
                object_type="person",
                object_id=str(i),
                site_id=site_id,
                now=now,
            )
            if i % 500 == 0:
                s.commit()
        s.commit()
        t0 = time.perf_counter()
        v = audit.verify(s)
        out["audit_verify"] = {
            "records": v.checked,
            "ok": v.ok,
            "records_per_s": round(v.checked / (time.perf_counter() - t0), 1),
        }
    engine.dispose()
    return out


def _enrol_figures(photos: Path) -> dict[str, Any]:
    from central.services.enrolment import embed_photo
    from central.settings import EnrolmentSettings
    from recognition.config import RecognitionConfig
    from recognition.pipeline import FacePipeline

    pipeline = FacePipeline.from_config(RecognitionConfig())
    files = sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    embed_photo(pipeline, files[0].read_bytes(), files[0].name, EnrolmentSettings())  # warm-up
    lat = []
    for f in files:
        t0 = time.perf_counter()
        embed_photo(pipeline, f.read_bytes(), f.name, EnrolmentSettings())
        lat.append((time.perf_counter() - t0) * 1000)
    return {
        "photos": len(lat),
        "p50_ms": _pct(lat, 0.5),
        "max_ms": round(max(lat), 1),
        "model_id": pipeline.model_id,
    }


def run(args: argparse.Namespace) -> int:
    import logging

    from sqlalchemy import create_engine, text

    for name in ("central", "httpx", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    figures: dict[str, Any] = {"households": args.households, "at": datetime.now(timezone.utc).isoformat()}
    with tempfile.TemporaryDirectory() as tmp:
        figures["sqlite"] = _run_db(f"sqlite:///{Path(tmp) / 'bench.db'}", args, "sqlite")
    if not args.no_pg:
        name = f"anju_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            figures["postgresql"] = _run_db(args.pg_url.rsplit("/", 1)[0] + f"/{name}", args, "postgresql")
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    if args.photos.is_dir():
        figures["enrol"] = _enrol_figures(args.photos)
    sys.stdout.write(json.dumps(figures, ensure_ascii=False, indent=None if args.json else 2) + "\n")
    return 0
