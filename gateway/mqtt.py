"""Building paho-mqtt v2 clients from a :class:`~gateway.config.BrokerConfig`."""

from __future__ import annotations

import ssl
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from anju.errors import AnjuError
from gateway.config import BrokerConfig


class GatewayError(AnjuError):
    """The broker could not be reached or did not accept a publish in time."""


def make_client(client_id: str, broker: BrokerConfig) -> mqtt.Client:
    """An MQTT 5 (or, when configured, 3.1.1) client with TLS (when configured) and bounded reconnect
    back-off; not yet connected.

    The gateway uses no MQTT 5 properties, so 3.1.1 changes nothing on the wire that it relies on:
    acknowledgements are application messages, de-duplication is by event id, sessions are clean.
    paho v2 hands 3.1.1 return codes to the same callbacks as ``ReasonCode`` objects, which
    :func:`reason_failed` reads for both versions.
    """
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311 if broker.protocol == "3.1.1" else mqtt.MQTTv5,
    )
    if broker.tls is not None:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(broker.tls.ca_file))
        context.load_cert_chain(str(broker.tls.cert_file), str(broker.tls.key_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        client.tls_set_context(context)
    client.reconnect_delay_set(
        min_delay=max(1, int(broker.reconnect_min_s)), max_delay=max(1, int(broker.reconnect_max_s))
    )
    # The outbox/window bounds what is queued; let paho keep enough in flight for throughput.
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    return client


def connect_async(client: mqtt.Client, broker: BrokerConfig, clean_start: bool = True) -> None:
    if broker.protocol == "3.1.1":
        # 3.1.1 has no clean_start/properties: the session flag is set on the client (clean_session),
        # and paho's default for 3.1.1 clients is a clean session, which is what the gateway wants.
        client.connect_async(broker.host, broker.port, keepalive=broker.keepalive_s)
        return
    props: Any = None
    client.connect_async(
        broker.host,
        broker.port,
        keepalive=broker.keepalive_s,
        clean_start=clean_start,
        properties=props,
    )


def reason_failed(reason_code: Any) -> bool:
    """True when a paho v2 reason code reports a failure."""
    is_failure = getattr(reason_code, "is_failure", None)
    if is_failure is not None:
        return bool(is_failure)
    try:
        return int(reason_code) >= 0x80
    except (TypeError, ValueError):
        return False
