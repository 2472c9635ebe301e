"""Edge node: one process per gate box. Cameras → per-camera workers → door decisions,
offline-first, publishing events through the gateway outbox."""
