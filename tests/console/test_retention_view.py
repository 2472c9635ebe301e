"""In a real browser, as admin: retention periods changed globally and for one site, bounded, audited."""

from __future__ import annotations

import json
from typing import Any

import pytest

from central.models.audit import AuditRecord

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def result(browser: Any) -> dict[str, Any]:
    out: dict[str, Any] = browser("retention").finish(timeout=180)
    return out


def test_admin_sets_global_and_site_periods(result: dict[str, Any], api: Any, console_server: Any) -> None:
    assert any("通行记录" in label for label in result["labels"])
    assert result["ceiling"] == "180"  # the configured value is the ceiling
    assert result["globalSource"] == "全局设置"
    assert "1–90" in result["boundError"]  # stranger_days: configured 90
    admin = api("admin")
    glob = admin("GET", "/retention")
    here = admin("GET", "/retention", params={"site_id": console_server.site_id})

    def days(body: dict[str, Any], field: str) -> tuple[int, str]:
        p = next(p for p in body["periods"] if p["field"] == field)
        return p["days"], p["source"]

    assert days(glob, "pass_days") == (120, "global") and days(glob, "stranger_days") == (90, "config")
    assert days(here, "pass_days") == (30, "site")
    assert result["deliveryDisabled"] is True  # webhook deliveries: global only
    assert any("120 → 30" in row for row in result["siteHistory"])
    assert any("180 → 120" in row and "个人信息最小化" in row for row in result["globalHistory"])
    assert "Pass records" in result["english"] or "in/out (pass) records" in result["english"]


def test_every_change_is_in_the_audit_log(result: dict[str, Any], console_server: Any) -> None:
    from sqlalchemy import select

    with console_server.session() as db:
        rows = db.scalars(select(AuditRecord).where(AuditRecord.action == "retention.update")).all()
    changes = [json.loads(r.detail)["changes"] for r in rows]
    assert {"old": 180, "new": 120, "old_source": "config", "new_source": "global"} in [
        c.get("pass_days") for c in changes
    ]
    assert {"old": 120, "new": 30, "old_source": "global", "new_source": "site"} in [
        c.get("pass_days") for c in changes
    ]
    assert all(r.actor_role == "admin" for r in rows)
