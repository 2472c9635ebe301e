"""``anju central`` commands against a real database file: migrate, create-user, audit, enrol-folder."""

from __future__ import annotations

import io
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from anju.cli import main
from central.db import make_engine, make_session_factory
from central.models.registry import Person, Site
from central.services.consent import ConsentCreate, grant
from tests.central.conftest import SHARED
from tests.central.test_persons import make_id


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANJU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ANJU_DATABASE_URL", raising=False)
    return tmp_path / "data"


def test_migrate_create_user_verify(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["central", "migrate"]) == 0
    assert (env / "anju.db").exists()
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["central", "create-user", "--username", "root", "--role", "admin", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["central", "create-user", "--username", "x1", "--role", "admin", "--password-stdin"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    # a guard needs a site
    assert main(["central", "create-user", "--username", "g1", "--role", "guard", "--password-stdin"]) == 1
    capsys.readouterr()
    assert main(["central", "audit-verify"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["checked"] == 1
    assert main(["central", "audit-verify", "--anchor", f"1:{out['last_hash']}"]) == 0
    assert main(["central", "audit-verify", "--anchor", f"1:{'0' * 64}"]) == 1
    assert main(["central", "audit-purge"]) == 0


def test_enrol_folder(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["central", "migrate"]) == 0
    eng = make_engine(f"sqlite:///{(env / 'anju.db').resolve()}")
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    folder = tmp_path / "photos"
    folder.mkdir()
    with make_session_factory(eng)() as s:
        site = Site(name="阳光", code="yg", created_at=now, updated_at=now)
        s.add(site)
        s.flush()
        for i, src in enumerate(["biden/biden.jpg", "obama/obama.jpg"]):
            idn = make_id("19700101", f"{i + 1}11")
            p = Person(site_id=site.id, name=f"人{i}", id_number=idn, created_at=now, updated_at=now)
            s.add(p)
            s.flush()
            if i == 0:
                grant(s, p, ConsentCreate(), None, now)
            shutil.copyfile(SHARED / "testdata/examples/knn_examples/train" / src, folder / f"{idn}.jpg")
        s.commit()
        site_id = site.id
    eng.dispose()
    capsys.readouterr()
    rc = main(["central", "enrol-folder", "--site", site_id, "--dir", str(folder)])
    report = json.loads(capsys.readouterr().out)
    assert rc == 1  # one person has no consent
    assert report["ok"] == 1 and report["failed"] == 1 and report["total"] == 2
    assert main(["central", "enrol-folder", "--site", site_id, "--dir", str(tmp_path / "nope")]) == 1
