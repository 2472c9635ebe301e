"""Alert rule definitions that need no database: parameters per type, periods, titles.

Each rule type has one parameter model (unknown keys are errors). A rule may
have time *periods*: e.g. a ``special`` night period with a higher severity and
a ``normal`` day period; with periods the rule only fires inside one of them,
without periods it always fires at its own severity. Titles are zh-CN first,
with an English version, because guards read them.
"""

from __future__ import annotations

from datetime import datetime, time
from enum import Enum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, TypeAdapter

from anju.config import StrictModel
from central.services.access import DEFAULT_TZ, time_in_window
from contracts import DoorState, Severity

SEVERITY_ORDER: tuple[Severity, ...] = (
    Severity.info,
    Severity.low,
    Severity.medium,
    Severity.high,
    Severity.critical,
)


def raise_severity(value: str, steps: int = 1) -> Severity:
    idx = SEVERITY_ORDER.index(Severity(value))
    return SEVERITY_ORDER[min(len(SEVERITY_ORDER) - 1, idx + steps)]


def severity_at_least(value: str, minimum: str) -> bool:
    return SEVERITY_ORDER.index(Severity(value)) >= SEVERITY_ORDER.index(Severity(minimum))


class RuleType(str, Enum):
    stranger = "stranger"
    watchlist = "watchlist"
    tailgating = "tailgating"
    liveness = "liveness"
    door = "door"
    absence = "absence"
    special_leaving = "special_leaving"
    vehicle_watch = "vehicle_watch"


class StrangerParams(StrictModel):
    type: Literal["stranger"] = "stranger"
    ring: int | None = Field(None, ge=1, le=4, description="only strangers seen on this ring; None = any")
    count: int = Field(1, ge=1, le=10000, description="strangers within window_s before the alert fires")
    window_s: int = Field(600, ge=1, le=7 * 86400, description="counting window in seconds")


class WatchlistParams(StrictModel):
    type: Literal["watchlist"] = "watchlist"
    categories: list[str] = Field(default_factory=list, description="library scope; empty = every category")
    min_score: float = Field(0.0, ge=-1.0, le=1.0, description="ignore weaker matches")


class TailgatingParams(StrictModel):
    type: Literal["tailgating"] = "tailgating"
    min_extra: int = Field(1, ge=1, le=32, description="people beyond those authorised")


class LivenessParams(StrictModel):
    type: Literal["liveness"] = "liveness"
    count: int = Field(1, ge=1, le=10000)
    window_s: int = Field(300, ge=1, le=86400)


class DoorParams(StrictModel):
    type: Literal["door"] = "door"
    states: list[DoorState] = Field(
        default_factory=lambda: [DoorState.forced_open, DoorState.held_open], min_length=1
    )


class AbsenceParams(StrictModel):
    """长时间不出现: a registered person of ``group`` not seen for ``days``."""

    type: Literal["absence"] = "absence"
    group: str = Field(
        "elderly_alone",
        description="elderly_alone | dementia | minor | owner | tenant | family | staff | all",
    )
    days: float = Field(2.0, gt=0, le=365)


class SpecialLeavingParams(StrictModel):
    """A flagged person (dementia by default) passing outward through ``ring``."""

    type: Literal["special_leaving"] = "special_leaving"
    flags: list[str] = Field(default_factory=lambda: ["dementia"], min_length=1)
    ring: int = Field(1, ge=1, le=4)


class VehicleWatchParams(StrictModel):
    type: Literal["vehicle_watch"] = "vehicle_watch"


RuleParams = Annotated[
    StrangerParams
    | WatchlistParams
    | TailgatingParams
    | LivenessParams
    | DoorParams
    | AbsenceParams
    | SpecialLeavingParams
    | VehicleWatchParams,
    Field(discriminator="type"),
]
PARAMS_ADAPTER: TypeAdapter[RuleParams] = TypeAdapter(RuleParams)

SPECIAL_CARE_GROUPS = ("elderly_alone", "dementia", "minor")


def parse_params(rule_type: str, params: dict[str, object]) -> RuleParams:
    """Validate ``params`` for ``rule_type``; raises ``pydantic.ValidationError``."""
    return PARAMS_ADAPTER.validate_python({**params, "type": rule_type})


class Period(StrictModel):
    """A time period of a rule: when it fires and at which severity."""

    name: str = Field("normal", max_length=32, description="e.g. special (night, holidays) or normal")
    weekdays: list[int] = Field(default_factory=lambda: list(range(7)), description="0=Monday")
    start: time = time(0, 0)
    end: time = time(23, 59, 59)
    severity: Severity | None = Field(None, description="overrides the rule's severity in this period")
    active: bool = Field(True, description="False mutes the rule in this period")


def period_severity(
    periods: list[Period], rule_severity: str, when: datetime, tz: str = DEFAULT_TZ
) -> Severity | None:
    """The severity the rule fires with at ``when``, or None if it is muted/outside its periods."""
    if not periods:
        return Severity(rule_severity)
    local = when.astimezone(ZoneInfo(tz))
    moment = local.time().replace(tzinfo=None)
    for period in periods:
        weekday = local.weekday()
        if period.start > period.end and moment <= period.end:
            weekday = (weekday - 1) % 7
        if weekday in period.weekdays and time_in_window(period.start, period.end, moment):
            if not period.active:
                return None
            return period.severity or Severity(rule_severity)
    return None


def mask_name(name: str) -> str:
    """张三丰 → 张**; Alice → A****: enough for a guard, not for a stranger reading a webhook."""
    name = name.strip()
    if not name:
        return ""
    return name[0] + "*" * min(len(name) - 1, 4) if len(name) > 1 else name + "*"


def titles(rule_type: RuleType, **facts: object) -> tuple[str, str]:
    """(zh-CN, English) title of an alert."""
    f = {k: ("" if v is None else v) for k, v in facts.items()}
    where = f.get("camera") or f.get("door") or ""
    if rule_type is RuleType.stranger:
        return (
            f"陌生人出现：第{f.get('ring', '?')}圈 {where}（{f.get('count', 1)}次）",
            f"Stranger at ring {f.get('ring', '?')} {where} ({f.get('count', 1)}x)",
        )
    if rule_type is RuleType.watchlist:
        return (
            f"重点人员出现：{f.get('category', '')} {f.get('person', '')} @ {where}",
            f"Watchlist hit: {f.get('category', '')} {f.get('person', '')} at {where}",
        )
    if rule_type is RuleType.tailgating:
        return (f"尾随进入：门 {where}", f"Tailgating at door {where}")
    if rule_type is RuleType.liveness:
        return (f"活体检测失败：{where}", f"Liveness check failed at {where}")
    if rule_type is RuleType.door:
        state = str(f.get("state", ""))
        zh = {"forced_open": "门被强行打开", "held_open": "门长时间未关"}.get(state, f"门状态异常（{state}）")
        en = {"forced_open": "Door forced open", "held_open": "Door held open"}.get(state, f"Door {state}")
        return (f"{zh}：{where}", f"{en}: {where}")
    if rule_type is RuleType.absence:
        return (
            f"长时间未出现：{f.get('person', '')} 已 {f.get('days', '?')} 天未出现",
            f"Not seen for {f.get('days', '?')} days: {f.get('person', '')}",
        )
    if rule_type is RuleType.special_leaving:
        return (
            f"走失预警：{f.get('person', '')} 从第{f.get('ring', 1)}圈外出 {where}",
            f"Lost-person alert: {f.get('person', '')} left through ring {f.get('ring', 1)} at {where}",
        )
    return (
        f"布控车辆出现：{f.get('plate', '')} @ {where}",
        f"Watch-listed vehicle {f.get('plate', '')} at {where}",
    )
