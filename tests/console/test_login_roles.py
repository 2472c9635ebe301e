"""In a real browser: each role logs in and sees its own views; a guard cannot open the police queue."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def result(browser: Any) -> dict[str, Any]:
    """One browser run covers every role; the tests below read its findings."""
    out: dict[str, Any] = browser("login_roles").finish()
    return out


def test_each_role_logs_in_and_sees_its_views(result: dict[str, Any]) -> None:
    nav = result["nav"]
    assert "alerts" in nav["guard"] and "visitors" in nav["guard"]
    assert not {"review", "trajectory", "export", "users", "audit", "persons"} & set(nav["guard"])
    assert {"review", "trajectory", "export"} <= set(nav["police"])
    assert not {"alerts", "users", "enrol"} & set(nav["police"])
    assert {"persons", "enrol", "import", "visitors", "vehicles", "zones", "access-rules"} <= set(
        nav["property_manager"]
    )
    assert "users" not in nav["property_manager"]
    assert {"users", "alert-rules", "retention", "audit", "review"} <= set(nav["admin"])
    assert nav["grid_worker"] and "alerts" not in nav["grid_worker"]
    assert result["home"]["guard"] == "#/alerts"
    assert result["home"]["police"] == "#/review"
    assert result["loginError"] == "用户名或密码错误"


def test_guard_cannot_open_police_queue(result: dict[str, Any]) -> None:
    assert result["forbiddenText"] == "无权访问"
    # The API is the real check: the guard's own token is refused by the police queue.
    assert result["apiStatus"] == 403


def test_language_switch_is_remembered(result: dict[str, Any]) -> None:
    assert result["englishNav"] == "Alert wall"
    assert result["stillEnglish"] == "en"
    assert result["chineseNav"].startswith("告警墙")
