"""Consent and enrolment with the real face pipeline and real photos."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.models.biometrics import FaceTemplate, PersonCredential
from central.models.zones import WhitelistChange
from tests.central.conftest import SHARED
from tests.central.test_persons import make_id

API = "/api/v1"
EX = SHARED / "testdata" / "examples"
TRAIN = EX / "knn_examples" / "train"


@pytest.fixture(scope="module")
def pipeline() -> Any:
    from recognition.config import RecognitionConfig
    from recognition.pipeline import FacePipeline

    return FacePipeline.from_config(RecognitionConfig())


@pytest.fixture
def world(app: FastAPI, client: TestClient, login: Any, pipeline: Any) -> dict[str, Any]:
    app.state.services.face_pipeline = pipeline  # load the ONNX models once per module
    _, admin_h = login("admin")
    site = client.post(f"{API}/sites", json={"name": "阳光小区", "code": "yg"}, headers=admin_h).json()
    _, pm_h = login("property_manager", [site["id"]])
    return {"admin": admin_h, "pm": pm_h, "site": site}


def _person(
    client: TestClient, w: dict[str, Any], name: str, birth: str = "19700101", seq: str = "111"
) -> str:
    r = client.post(
        f"{API}/persons",
        json={"site_id": w["site"]["id"], "name": name, "id_number": make_id(birth, seq)},
        headers=w["pm"],
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _consent(client: TestClient, w: dict[str, Any], pid: str, **kw: Any) -> Any:
    return client.post(f"{API}/persons/{pid}/consent", json={"granted_by": "self", **kw}, headers=w["pm"])


def _enrol(client: TestClient, w: dict[str, Any], pid: str, path: Path) -> Any:
    return client.post(
        f"{API}/persons/{pid}/faces",
        files={"photo": (path.name, path.read_bytes(), "image/jpeg")},
        headers=w["pm"],
    )


def test_no_template_without_consent(client: TestClient, world: dict[str, Any], db: Session) -> None:
    pid = _person(client, world, "拜登")
    r = _enrol(client, world, pid, TRAIN / "biden" / "biden.jpg")
    assert r.status_code == 409 and r.json()["fields"][0]["field"] == "consent"
    assert db.scalar(select(func.count()).select_from(FaceTemplate)) == 0


def test_under_14_needs_guardian(client: TestClient, world: dict[str, Any]) -> None:
    pid = _person(client, world, "小明", birth="20160101", seq="131")
    r = _consent(client, world, pid)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "granted_by"
    r = _consent(client, world, pid, granted_by="guardian")
    assert {f["field"] for f in r.json()["fields"]} == {"guardian_name", "guardian_relation"}
    r = _consent(client, world, pid, granted_by="guardian", guardian_name="王芳", guardian_relation="母亲")
    assert r.status_code == 201 and r.json()["granted_by"] == "guardian"
    assert (
        _consent(
            client, world, pid, granted_by="guardian", guardian_name="王芳", guardian_relation="母亲"
        ).status_code
        == 409
    )


def test_enrol_duplicate_warning_and_withdrawal(
    client: TestClient, world: dict[str, Any], db: Session
) -> None:
    a = _person(client, world, "拜登", seq="111")
    b = _person(client, world, "冒名者", seq="113")
    for pid in (a, b):
        assert _consent(client, world, pid).status_code == 201
    r = _enrol(client, world, a, TRAIN / "biden" / "biden.jpg")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["template"]["model_id"].startswith("faceplugin/") and body["duplicates"] == []
    assert body["template"]["quality"] > 0.3
    # the same man enrolled as someone else → a warning naming the first person
    r = _enrol(client, world, b, TRAIN / "biden" / "biden2.jpg")
    assert r.status_code == 201
    assert [d["person_id"] for d in r.json()["duplicates"]] == [a] and r.json()["warnings"]
    # a different person → no warning
    c = _person(client, world, "奥巴马", seq="115")
    _consent(client, world, c)
    r = _enrol(client, world, c, TRAIN / "obama" / "obama.jpg")
    assert r.status_code == 201 and r.json()["duplicates"] == []
    assert client.get(f"{API}/persons/{a}", headers=world["pm"]).json()["has_face"] is True
    stats = client.get(
        f"{API}/enrolment/stats", params={"site_id": world["site"]["id"]}, headers=world["pm"]
    ).json()
    assert stats["persons_with_face"] == 3 and stats["warning"] is False
    # withdrawal: templates gone, whitelist marked, QR + PIN issued
    r = client.post(f"{API}/persons/{a}/consent/withdraw", json={"reason": "本人撤回"}, headers=world["pm"])
    assert r.status_code == 200, r.text
    w = r.json()
    assert w["templates_deleted"] == 1 and len(w["pin"]) == 6 and w["qr_token"].startswith("AJP1.")
    assert db.scalar(select(func.count()).where(FaceTemplate.person_id == a)) == 0
    assert db.scalar(select(func.count()).where(PersonCredential.person_id == a)) == 2
    assert (
        a
        in db.scalars(
            select(WhitelistChange.person_id).where(WhitelistChange.reason == "consent withdrawn")
        ).all()
    )
    assert client.get(f"{API}/persons/{a}", headers=world["pm"]).json()["has_face"] is False
    assert _enrol(client, world, a, TRAIN / "biden" / "biden.jpg").status_code == 409
    # the pass verifies with central's key
    from central.keys import app_signer
    from contracts.passes import decode_pass
    from gateway.signing import verify

    signer = app_signer(client.app)
    payload = decode_pass(
        w["qr_token"], lambda body, sig: verify(signer.public_key, signer.signer_id, body, sig)
    )
    assert payload.person_id == a and payload.kind.value == "resident" and payload.holder == "拜*"


@pytest.mark.parametrize(
    "photo,reason",
    [
        ("two_people.jpg", "faces"),
        ("tiny", "no face"),
        ("corrupt", "照片不可用"),
        ("empty", "照片不可用"),
        ("text", "照片不可用"),
    ],
)
def test_bad_photos(client: TestClient, world: dict[str, Any], db: Session, photo: str, reason: str) -> None:
    pid = _person(client, world, "测试")
    _consent(client, world, pid)
    if photo == "corrupt":
        data = (EX / "obama.jpg").read_bytes()[:3000]
    elif photo == "empty":
        data = b""
    elif photo == "tiny":  # a 60 px face on a 1200 px canvas: too small to find or use
        import cv2
        import numpy as np

        canvas = np.full((1200, 1200, 3), 128, np.uint8)
        canvas[500:560, 500:560] = cv2.resize(cv2.imread(str(EX / "obama.jpg")), (60, 60))
        data = cv2.imencode(".jpg", canvas)[1].tobytes()
    elif photo == "text":
        data = b"<?php system($_GET['c']); ?>"
    else:
        data = (EX / photo).read_bytes()
    r = client.post(
        f"{API}/persons/{pid}/faces", files={"photo": ("p.jpg", data, "image/jpeg")}, headers=world["pm"]
    )
    assert r.status_code == 422, r.text
    assert r.json()["fields"][0]["field"] == "photo"
    assert reason in r.json()["message"] + r.json()["message_en"]
    assert db.scalar(select(func.count()).select_from(FaceTemplate)) == 0


def test_huge_upload_is_413(client: TestClient, world: dict[str, Any]) -> None:
    pid = _person(client, world, "大图")
    _consent(client, world, pid)
    big = b"\xff\xd8" + b"\0" * (10 * 1024 * 1024 + 10)
    r = client.post(
        f"{API}/persons/{pid}/faces", files={"photo": ("big.jpg", big, "image/jpeg")}, headers=world["pm"]
    )
    assert r.status_code == 413 and r.json()["fields"][0]["field"] == "photo"
    r = client.post(
        f"{API}/persons/{pid}/faces",
        content=b"x" * 10,
        headers={**world["pm"], "Content-Length": str(10**12)},
    )
    assert r.status_code == 413


def test_bulk_zip_with_progress(client: TestClient, world: dict[str, Any]) -> None:
    names = {"alex_lacamoire": "亚历克斯", "kit_harington": "基特", "rose_leslie": "罗斯"}
    ids = {}
    for i, (folder, name) in enumerate(names.items()):
        idn = make_id("19800101", f"{i + 1:02d}1")
        r = client.post(
            f"{API}/persons",
            json={"site_id": world["site"]["id"], "name": name, "id_number": idn},
            headers=world["pm"],
        )
        ids[folder] = (r.json()["id"], idn)
        if folder != "rose_leslie":
            _consent(client, world, r.json()["id"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for folder, (_pid, idn) in ids.items():
            first = sorted((TRAIN / folder).iterdir())[0]
            zf.writestr(f"photos/{idn}.jpg", first.read_bytes())
        zf.writestr("photos/110105194912310021.jpg", b"not a person here")
    r = client.post(
        f"{API}/enrolment/bulk",
        params={"site_id": world["site"]["id"]},
        files={"archive": ("faces.zip", buf.getvalue(), "application/zip")},
        headers=world["pm"],
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    for _ in range(600):
        job = client.get(f"{API}/jobs/{job_id}", headers=world["pm"]).json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert job["status"] == "done", job
    assert job["total"] == 4 and job["done"] == 2 and job["failed"] == 2
    errors = [row["error"] for row in job["report"] if "error" in row]
    assert any("同意" in e for e in errors)  # rose_leslie has no consent
    assert sum(1 for row in job["report"] if "template_id" in row) == 2
    r = client.post(
        f"{API}/enrolment/bulk",
        params={"site_id": world["site"]["id"]},
        files={"archive": ("x.zip", b"PK\x03\x04garbage", "application/zip")},
        headers=world["pm"],
    )
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "file"


def test_face_data_counter_warns_near_filing_threshold(db: Session, clock: Any, make_site: Any) -> None:
    import numpy as np

    from central.models.biometrics import Consent
    from central.models.registry import Person
    from central.services.enrolment import face_data_count
    from central.settings import EnrolmentSettings

    limits = EnrolmentSettings(face_data_filing_threshold=10, face_data_warning_ratio=0.8)
    site = make_site()
    vec = (np.ones(8, np.float32) / np.sqrt(8)).tobytes()

    def add(n: int) -> None:
        for _ in range(n):
            p = Person(site_id=site.id, name="某", created_at=clock.now(), updated_at=clock.now())
            db.add(p)
            db.flush()
            c = Consent(site_id=site.id, person_id=p.id, granted_by="self", granted_at=clock.now())
            db.add(c)
            db.flush()
            for _ in range(2):  # two templates, one person
                db.add(
                    FaceTemplate(
                        site_id=site.id,
                        person_id=p.id,
                        consent_id=c.id,
                        model_id="m",
                        dim=8,
                        vector=vec,
                        quality=1.0,
                        photo_sha256="0" * 64,
                        created_at=clock.now(),
                    )
                )
        db.commit()

    add(7)
    c = face_data_count(db, limits, site.id)
    assert (c.persons_with_face, c.site_persons_with_face, c.warning) == (7, 7, False)
    add(1)
    c = face_data_count(db, limits)
    assert c.warning and "接近" in c.message
    add(2)
    c = face_data_count(db, limits)
    assert c.persons_with_face == 10 and "备案" in c.message and "超过" in c.message


def test_bulk_zip_with_spreadsheet_manifest(client: TestClient, world: dict[str, Any], db: Session) -> None:
    from openpyxl import Workbook

    idn = make_id("19750505", "151")
    r = client.post(
        f"{API}/persons",
        json={"site_id": world["site"]["id"], "name": "基特", "id_number": idn},
        headers=world["pm"],
    )
    pid = r.json()["id"]
    _consent(client, world, pid)
    wb = Workbook()
    ws = wb.active
    ws.append(["文件", "身份证号"])
    ws.append(["a.jpeg", idn])
    ws.append(["b.jpeg", idn])
    xbuf = io.BytesIO()
    wb.save(xbuf)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.xlsx", xbuf.getvalue())
        zf.writestr("a.jpeg", (TRAIN / "kit_harington" / "john1.jpeg").read_bytes())
        zf.writestr("b.jpeg", (TRAIN / "kit_harington" / "john2.jpeg").read_bytes())
    r = client.post(
        f"{API}/enrolment/bulk",
        params={"site_id": world["site"]["id"]},
        files={"archive": ("faces.zip", buf.getvalue(), "application/zip")},
        headers=world["pm"],
    )
    job_id = r.json()["id"]
    for _ in range(600):
        job = client.get(f"{API}/jobs/{job_id}", headers=world["pm"]).json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert (job["status"], job["done"], job["failed"]) == ("done", 2, 0), job
    assert db.scalar(select(func.count()).where(FaceTemplate.person_id == pid)) == 2


def test_template_cache_follows_the_database(db: Session, clock: Any, make_site: Any) -> None:
    import numpy as np

    from central.models.biometrics import Consent
    from central.models.registry import Person
    from central.services.enrolment import TemplateCache

    site = make_site()
    rng = np.random.default_rng(7)
    cache = TemplateCache()
    people = []
    for i in range(4):
        p = Person(site_id=site.id, name=f"人{i}", created_at=clock.now(), updated_at=clock.now())
        db.add(p)
        db.flush()
        c = Consent(site_id=site.id, person_id=p.id, granted_by="self", granted_at=clock.now())
        db.add(c)
        db.flush()
        people.append((p.id, c.id))

    def add(k: int) -> list[np.ndarray]:
        vs = []
        for _ in range(k):
            v = rng.standard_normal(64).astype(np.float32)
            v /= np.linalg.norm(v)
            pid, cid = people[len(vs) % 4]
            db.add(
                FaceTemplate(
                    site_id=site.id,
                    person_id=pid,
                    consent_id=cid,
                    model_id="m64",
                    dim=64,
                    vector=v.tobytes(),
                    quality=1.0,
                    photo_sha256="0" * 64,
                    created_at=clock.now(),
                )
            )
            vs.append(v)
        db.commit()
        clock.advance(1)
        return vs

    first = add(10)
    hits = cache.scan(db, "m64", first[3], "nobody", 0.99)
    assert [h.person_id for h in hits] == [people[3][0]]
    second = add(5)  # appended incrementally
    assert cache.matrix(db, "m64").matrix.shape == (15, 64)
    assert [h.person_id for h in cache.scan(db, "m64", second[1], "nobody", 0.99)] == [people[1][0]]
    assert cache.scan(db, "m64", second[1], people[1][0], 0.99) == []  # the person's own templates
    db.execute(FaceTemplate.__table__.delete().where(FaceTemplate.person_id == people[1][0]))
    db.commit()
    assert cache.scan(db, "m64", second[1], "nobody", 0.99) == []  # deletion → reload
    assert cache.matrix(db, "m64").matrix.shape[0] == 15 - 4


def test_withdrawal_removes_the_person_from_the_edges_whitelist(
    client: TestClient, world: dict[str, Any], db: Session, clock: Any, pipeline: Any
) -> None:
    """Enrol → the compiled whitelist carries the template; withdraw → the next delta revokes it."""
    from central.models.zones import AccessRule
    from central.services.whitelist import DbTemplateSource, WhitelistCompiler

    site_id = world["site"]["id"]
    db.add(
        AccessRule(
            site_id=site_id,
            name="业主",
            subject_type="group",
            subject_value="owner",
            created_at=clock.now(),
            updated_at=clock.now(),
        )
    )
    db.commit()
    pid = _person(client, world, "拜登")
    _consent(client, world, pid)
    assert _enrol(client, world, pid, TRAIN / "biden" / "biden.jpg").status_code == 201
    compiler = WhitelistCompiler(clock, DbTemplateSource(pipeline.model_id))
    deltas = compiler.process_changes(db)
    up = [p for d in deltas for p in d.upserts if p.person_id == pid]
    assert up and len(up[0].templates) == 1 and up[0].templates[0].model_id == pipeline.model_id
    r = client.post(f"{API}/persons/{pid}/consent/withdraw", json={"reason": "撤回"}, headers=world["pm"])
    assert r.status_code == 200
    db.expire_all()
    deltas = compiler.process_changes(db)
    assert any(pid in d.removals for d in deltas)
