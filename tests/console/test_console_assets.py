"""The console's assets as central serves them: same-origin only, safe paths, complete translations."""

from __future__ import annotations

import io
import json
import re
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from central.errors import NotFound, install_error_handlers
from central.routers.console import CONSOLE_DIR, alert_tone, mount_console, resolve_asset

JS_FILES = sorted((CONSOLE_DIR / "js").rglob("*.js"))


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)
    mount_console(app)
    mount_console(app)  # idempotent: create_app and a test fixture may both call it
    with TestClient(app) as c:
        yield c


def test_index_served_at_root_with_strict_csp(client: TestClient) -> None:
    res = client.get("/")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in res.text
    csp = res.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert client.get("/console/").text == res.text


def test_assets_have_their_types(client: TestClient) -> None:
    assert client.get("/console/js/main.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/console/app.css").headers["content-type"].startswith("text/css")
    assert client.get("/console/favicon.svg").headers["content-type"] == "image/svg+xml"
    assert client.get("/console/i18n/zh-CN.json").json()["app.title"].startswith("安居")


@pytest.mark.parametrize(
    "path",
    [
        "../routers/console.py",
        "js/../../settings.py",
        "..%2F..%2Fsettings.py",
        ".hidden",
        "js//main.js",
        "nope.js",
        "index.py",
    ],
)
def test_traversal_and_unknown_files_refused(client: TestClient, path: str) -> None:
    assert client.get(f"/console/{path}").status_code == 404
    with pytest.raises(NotFound):
        resolve_asset(path.replace("%2F", "/"))


def test_alert_tone_is_a_valid_wav(client: TestClient) -> None:
    res = client.get("/console/sounds/alert.wav")
    assert res.status_code == 200 and res.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(res.content)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        assert 0.5 < w.getnframes() / w.getframerate() < 2.0
    assert res.content == alert_tone()


def _imports(js: Path) -> list[str]:
    text = js.read_text(encoding="utf-8")
    return re.findall(r"""^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]""", text, flags=re.M)


@pytest.mark.parametrize("js", JS_FILES, ids=lambda p: str(p.relative_to(CONSOLE_DIR)))
def test_every_module_import_resolves(client: TestClient, js: Path) -> None:
    for spec in _imports(js):
        assert spec.startswith("."), f"{js.name}: bare import {spec!r} needs a CDN or bundler"
        target = (js.parent / spec).resolve()
        rel = target.relative_to(CONSOLE_DIR).as_posix()
        assert client.get(f"/console/{rel}").status_code == 200, f"{js.name} imports missing {spec}"


def test_lazy_view_modules_exist() -> None:
    roles = (CONSOLE_DIR / "js" / "roles.js").read_text(encoding="utf-8")
    modules = set(re.findall(r"\['[a-z-]+', '[a-z]+', '([a-z]+)'", roles))
    assert modules, "no routes parsed from roles.js"
    for m in modules:
        assert (CONSOLE_DIR / "js" / "views" / f"{m}.js").is_file(), m


def test_no_external_urls_in_assets() -> None:
    for f in [*CONSOLE_DIR.rglob("*.js"), *CONSOLE_DIR.rglob("*.css"), *CONSOLE_DIR.rglob("*.html")]:
        text = f.read_text(encoding="utf-8")
        # The SVG namespace is an identifier, not a request.
        urls = [u for u in re.findall(r"https?://[^\s'\"`)]+", text) if u != "http://www.w3.org/2000/svg"]
        assert not urls, f"{f.name} refers to {urls}"


def test_translations_complete_and_used_keys_exist() -> None:
    zh = json.loads((CONSOLE_DIR / "i18n" / "zh-CN.json").read_text(encoding="utf-8"))
    en = json.loads((CONSOLE_DIR / "i18n" / "en.json").read_text(encoding="utf-8"))
    assert set(zh) == set(en)
    assert all(v.strip() for v in [*zh.values(), *en.values()])
    used: set[str] = set()
    for js in JS_FILES:
        used |= set(re.findall(r"\bt\('([a-zA-Z0-9_.-]+)'", js.read_text(encoding="utf-8")))
    missing = sorted(used - set(zh))
    assert not missing, f"keys used but not translated: {missing}"
    # Dynamic keys: every navigation route and group.
    roles = (CONSOLE_DIR / "js" / "roles.js").read_text(encoding="utf-8")
    for route, group in re.findall(r"\['([a-z-]+)', '([a-z]+)', '[a-z]+'", roles):
        assert f"nav.{route}" in zh and f"nav.group.{group}" in zh, route
    # Chinese really is Chinese.
    assert re.search(r"[\u4e00-\u9fff]", zh["nav.alerts"]) and not re.search(
        r"[\u4e00-\u9fff]", en["nav.alerts"]
    )


def test_every_alert_type_central_raises_has_a_label() -> None:
    # The alert wall shows t('alertKind.' + alert.type): an unlabelled type would show a raw key.
    from central.services.alert_rules import RuleType
    from central.services.alerts_reminders import ReminderType

    for name in ("zh-CN", "en"):
        labels = json.loads((CONSOLE_DIR / "i18n" / f"{name}.json").read_text(encoding="utf-8"))
        types = [t.value for t in RuleType] + [t.value for t in ReminderType]
        missing = [t for t in types if f"alertKind.{t}" not in labels]
        assert not missing, f"{name}: alert types without a label: {missing}"


def test_views_never_use_inner_html() -> None:
    # Registry text (names, notes, edge strings) must never be parsed as markup.
    for js in JS_FILES:
        assert "innerHTML" not in js.read_text(encoding="utf-8"), js.name


def test_create_app_mounts_console() -> None:
    from central.app import create_app
    from central.settings import CentralSettings

    app: FastAPI = create_app(CentralSettings(database_url="sqlite://"))
    with TestClient(app) as c:
        assert c.get("/").status_code == 200
        assert c.get("/console/js/main.js").status_code == 200
