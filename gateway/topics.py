"""The MQTT topic scheme (documented in ``docs/mqtt.md``).

Node → central (a node may publish only under its own ``<site>/<node>``)::

    anju/v1/<site>/<node>/events/<kind>      QoS 1   signed event
    anju/v1/<site>/<node>/events/batch       QoS 1   signed EventBatch (consecutive events, one signature)
    anju/v1/<site>/<node>/status             QoS 1   retained signed heartbeat; last will = offline
    anju/v1/<site>/<node>/whitelist/version  QoS 1   retained signed WhitelistVersionReport
    anju/v1/<site>/<node>/whitelist/request  QoS 1   signed WhitelistRequest

Central → node (only central may publish these)::

    anju/v1/<site>/<node>/ack                QoS 1   signed EventAck
    anju/v1/<site>/central/online            QoS 1   signed CentralOnline (a consumer subscribed)
    anju/v1/<site>/<node>/cmd/door           QoS 1   signed DoorCommand
    anju/v1/<site>/whitelist/all/snapshot    QoS 1   retained signed WhitelistSnapshot (site-wide)
    anju/v1/<site>/whitelist/all/delta       QoS 1   signed WhitelistDelta
    anju/v1/<site>/whitelist/zone/<zone>/snapshot|delta   the same, per zone
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "anju/v1"
CENTRAL_SHARE_GROUP = "anju-central"

_IDENT = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_EVENT_TOPIC = re.compile(rf"^anju/v1/({_IDENT})/({_IDENT})/events/([a-z_]{{1,32}})$")
_NODE_TOPIC = re.compile(rf"^anju/v1/({_IDENT})/({_IDENT})/(status|whitelist/version|whitelist/request)$")


EVENT_BATCH = "batch"  # events/batch carries a signed EventBatch; no event kind is named so


def event_topic(site_id: str, node_id: str, kind: str) -> str:
    return f"{PREFIX}/{site_id}/{node_id}/events/{kind}"


def status_topic(site_id: str, node_id: str) -> str:
    return f"{PREFIX}/{site_id}/{node_id}/status"


def ack_topic(site_id: str, node_id: str) -> str:
    return f"{PREFIX}/{site_id}/{node_id}/ack"


def central_online_topic(site_id: str) -> str:
    return f"{PREFIX}/{site_id}/central/online"


def door_command_topic(site_id: str, node_id: str) -> str:
    return f"{PREFIX}/{site_id}/{node_id}/cmd/door"


def whitelist_version_topic(site_id: str, node_id: str) -> str:
    return f"{PREFIX}/{site_id}/{node_id}/whitelist/version"


def whitelist_request_topic(site_id: str, node_id: str) -> str:
    return f"{PREFIX}/{site_id}/{node_id}/whitelist/request"


def whitelist_topic(site_id: str, zone_id: str | None, what: str) -> str:
    """``what`` is ``snapshot`` or ``delta``; ``zone_id=None`` is the site-wide list."""
    if what not in ("snapshot", "delta"):
        raise ValueError(f"whitelist topic kind must be snapshot or delta, not {what!r}")
    scope = "all" if zone_id is None else f"zone/{zone_id}"
    return f"{PREFIX}/{site_id}/whitelist/{scope}/{what}"


def _shared(group: str | None) -> str:
    """``$share/<group>/`` or, for ``group=None`` (a broker without shared subscriptions), nothing."""
    return "" if group is None else f"$share/{group}/"


def central_event_subscription(site_id: str | None = None, group: str | None = CENTRAL_SHARE_GROUP) -> str:
    site = site_id or "+"
    return f"{_shared(group)}{PREFIX}/{site}/+/events/#"


def central_node_subscriptions(
    site_id: str | None = None, group: str | None = CENTRAL_SHARE_GROUP
) -> list[str]:
    """Status, whitelist version reports and whitelist requests from every node."""
    site = site_id or "+"
    return [
        f"{_shared(group)}{PREFIX}/{site}/+/status",
        f"{_shared(group)}{PREFIX}/{site}/+/whitelist/version",
        f"{_shared(group)}{PREFIX}/{site}/+/whitelist/request",
    ]


# Node ids that would make a node's topics collide with site-level topics.
RESERVED_NODE_IDS = frozenset({"whitelist", "central"})


@dataclass(frozen=True)
class EventTopic:
    site_id: str
    node_id: str
    kind: str


def parse_event_topic(topic: str) -> EventTopic | None:
    m = _EVENT_TOPIC.match(topic)
    if m is None:
        return None
    return EventTopic(site_id=m.group(1), node_id=m.group(2), kind=m.group(3))


def parse_node_topic(topic: str) -> tuple[str, str, str] | None:
    """``(site, node, what)`` for status / whitelist version / whitelist request topics."""
    m = _NODE_TOPIC.match(topic)
    if m is None:
        return None
    return m.group(1), m.group(2), m.group(3)
