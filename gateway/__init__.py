"""Gateway: the MQTT link between edge nodes and central.

At-least-once delivery from an on-disk outbox, idempotent consumption with a
dead-letter table, signed whitelist distribution, device identity and ACLs.
Depends only on :mod:`contracts` (and :mod:`anju` basics).
"""
