"""Gateway link messages: the signed envelope and the small control messages around events and whitelists.

Every message on the wire is a :class:`SignedEnvelope`: the signer's id (a node
id, or ``central``), the id of the key that signed, the payload as JSON text
and an Ed25519 signature over the signer id, key id and payload. The payload is
one of the contract messages (an event, a whitelist snapshot or delta, a door
command, or one of the control messages below).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from contracts.messages import Ident, Message

ENVELOPE_VERSION: Literal[1] = 1

# Key ids are the first 16 bytes of the SHA-256 of the raw public key, in hex.
KEY_ID_PATTERN = r"^[0-9a-f]{32}$"


class SignedEnvelope(Message):
    """A payload and its Ed25519 signature."""

    v: Literal[1] = ENVELOPE_VERSION
    signer_id: Ident = Field(description="node id for events, 'central' for whitelists/commands/acks")
    key_id: str = Field(pattern=KEY_ID_PATTERN, description="SHA-256 (first 16 bytes, hex) of the public key")
    payload: str = Field(description="the signed message as JSON text")
    sig: str = Field(
        min_length=86, max_length=88, description="base64 Ed25519 signature of the signing input"
    )


class EventAck(Message):
    """Central → node: these sequence numbers are stored (or were already); drop them from the outbox."""

    type: Literal["event_ack"] = "event_ack"
    site_id: Ident
    node_id: Ident
    seq_ranges: list[tuple[int, int]] = Field(
        max_length=10_000, description="inclusive [first, last] seq ranges stored at central"
    )
    issued_at: AwareDatetime


class WhitelistVersionReport(Message):
    """Node → central: the whitelist version the node runs now (retained)."""

    type: Literal["whitelist_version"] = "whitelist_version"
    site_id: Ident
    node_id: Ident
    version: int = Field(ge=0)
    reported_at: AwareDatetime
    stale: bool = Field(
        default=False, description="the node has not confirmed its list within the maximum age"
    )


class WhitelistRequest(Message):
    """Node → central: please (re)send the current whitelist; the node holds ``have_version``."""

    type: Literal["whitelist_request"] = "whitelist_request"
    site_id: Ident
    node_id: Ident
    have_version: int = Field(ge=0)
    requested_at: AwareDatetime


class EventBatch(Message):
    """Several consecutive events of one node under one signature (topic ``…/events/batch``).

    Central checks each event on its own: one bad event is dead-lettered, the
    rest of the batch is stored.
    """

    type: Literal["event_batch"] = "event_batch"
    site_id: Ident
    node_id: Ident
    events: list[dict[str, object]] = Field(
        min_length=1, max_length=10_000, description="event objects (see event.json), oldest first"
    )


class CentralOnline(Message):
    """Central → nodes of a site: a consumer (re)subscribed; resend what it has not acknowledged now.

    Saves nodes waiting out their ack timeout after a broker restart in which
    their first publishes reached no subscriber.
    """

    type: Literal["central_online"] = "central_online"
    site_id: Ident
    at: AwareDatetime
