"""Background jobs with progress rows (``jobs`` table), run in a worker thread.

``start_job(factory, site_id, kind, user_id, now, work)`` inserts the row and runs
``work(session, job_id, progress)`` in a thread; ``progress(ok, row_report)`` updates counters.
Each item is its own transaction in ``work``; the job row records per-item results.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from anju.clock import Clock
from central.models.biometrics import Job

log = logging.getLogger(__name__)

Progress = Callable[[bool, dict[str, Any]], None]
Work = Callable[[Session, Progress], None]
MAX_REPORT_ROWS = 5000


def create_job(
    session: Session, site_id: str, kind: str, user_id: str | None, total: int, now: datetime
) -> Job:
    job = Job(site_id=site_id, kind=kind, status="queued", total=total, created_by=user_id, created_at=now)
    session.add(job)
    session.commit()
    return job


def run_job(factory: sessionmaker[Session], clock: Clock, job_id: str, work: Work) -> None:
    """Run ``work`` for ``job_id`` now (in the calling thread), keeping the row up to date."""
    report: list[dict[str, Any]] = []
    with factory() as meta:
        job = meta.get(Job, job_id)
        if job is None:
            return
        job.status = "running"
        meta.commit()

        def progress(ok: bool, row: dict[str, Any]) -> None:
            if ok:
                job.done += 1
            else:
                job.failed += 1
            if len(report) < MAX_REPORT_ROWS:
                report.append(row)
            job.report = json.dumps(report, ensure_ascii=False, default=str)
            meta.commit()

        try:
            with factory() as work_session:
                work(work_session, progress)
            job.status = "done"
        except Exception as exc:  # the job row must say it failed instead of staying "running"
            log.exception("job %s failed", job_id)
            job.status = "failed"
            job.error = str(exc)[:500]
        job.finished_at = clock.now()
        job.report = json.dumps(report, ensure_ascii=False, default=str)
        meta.commit()


def start_job(factory: sessionmaker[Session], clock: Clock, job_id: str, work: Work) -> threading.Thread:
    t = threading.Thread(
        target=run_job, args=(factory, clock, job_id, work), name=f"job-{job_id[:8]}", daemon=True
    )
    t.start()
    return t
