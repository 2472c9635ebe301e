"""Central service (FastAPI): registry, consent and enrolment, zones, events, alerts,
visitors, vehicles, 一标三实 reconciliation, roles, audit and the web console.

Never imports :mod:`edge`.
"""
