"""Gateway: the MQTT link between edge nodes and central.

At-least-once delivery from an on-disk outbox, idempotent consumption with a
dead-letter table, signed whitelist distribution, device identity and ACLs.
Depends only on :mod:`contracts` (and :mod:`anju` basics). The wire contract is
``docs/mqtt.md``; JSON Schemas are in ``docs/schemas``.

Public API:

- :mod:`gateway.signing` — ``Signer(signer_id, key).sign/envelope/seal``, ``verify``,
  ``open_envelope``, ``KeyRegistry``/``StaticKeyRegistry``/``NodeKey``, PEM load/save.
- :mod:`gateway.outbox` — ``Outbox(path, max_bytes, clock)`` (edge).
- :mod:`gateway.edge_link` — ``EdgeLink(config, outbox, signer, clock)``;
  ``EventFactory`` (``gateway.events``).
- :mod:`gateway.central_link` — ``CentralConsumer``; ``WhitelistPublisher`` (``gateway.publisher``).
- :mod:`gateway.store` — ``SqlEventStore(engine)`` and ``metadata`` (central's migrations).
- :mod:`gateway.config` — ``EdgeLinkConfig``, ``CentralLinkConfig``, ``BrokerConfig``, ``TlsConfig``.
- :mod:`gateway.broker_config` — ``generate(site, out_dir, nodes, …)`` (``anju gateway broker-config``).
"""
