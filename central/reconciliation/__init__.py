"""一标三实 reconciliation: cluster stranger faces, score unregistered occupants and moved-away
residents, a police review queue, grid-worker visits and the police-platform export/import."""
