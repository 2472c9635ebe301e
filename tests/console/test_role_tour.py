"""Audit tour in a real browser on an empty site: every role opens every view it is offered (no
error shown, no API call refused) and is refused every other view; each view is screenshotted at
1366×768 as ``tour-empty-<role>-<route>.png`` (the seeded tour is in ``test_visitors_uptime``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROLES_JS = Path(__file__).resolve().parents[2] / "central" / "console" / "js" / "roles.js"


def routes_by_role() -> dict[str, list[str]]:
    text = ROLES_JS.read_text(encoding="utf-8")
    out: dict[str, list[str]] = {}
    for route, roles in re.findall(r"\['([a-z-]+)', '[a-z]+', '[a-z]+', \[([A-Z, ]+)\]\]", text):
        out[route] = [r.strip() for r in roles.split(",")]
    return out


@pytest.fixture(scope="module")
def result(browser: Any) -> dict[str, Any]:
    routes = sorted(routes_by_role())
    out: dict[str, Any] = browser(
        "role_tour", ALL_ROUTES=json.dumps(routes), TOUR_PREFIX="tour-empty"
    ).finish(timeout=400)
    return out


def check_tour(result: dict[str, Any]) -> None:
    """No view showed an error or made a refused API call; each role saw its views, was refused the rest."""
    assert result["errors"] == {}
    assert result["apiDenied"] == {}, "a view calls an API its role may not use"
    short = {"A": "admin", "P": "property_manager", "G": "guard", "PO": "police", "W": "grid_worker"}
    for route, roles in routes_by_role().items():
        for code in roles:
            assert route in result["seen"][short[code]], (route, code)
    routes = set(routes_by_role())
    for role, seen in result["seen"].items():
        assert set(result["forbidden"].get(role, [])) == routes - set(seen), role
    assert "review" in result["forbidden"]["guard"] and "users" in result["forbidden"]["police"]


def test_each_role_opens_its_views_and_no_other(result: dict[str, Any]) -> None:
    check_tour(result)
