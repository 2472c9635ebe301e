"""Persistence of clusterer state and the location of cameras (building / unit).

The clusterer lives in memory per site; its clusters are rows of ``recon_clusters`` whose
exemplars and vector sums are float32 bytes. ``ClusterStore`` loads and saves them.
``ZoneLocationResolver`` turns an event's zone into the building and the unit key that
occupant scoring groups on (a ring-3 zone is one building-unit entrance).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.reconciliation.clustering import Cluster
from central.reconciliation.models import FaceCluster

log = logging.getLogger(__name__)


def to_bytes(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float32).tobytes()


def from_bytes(b: bytes, dim: int) -> np.ndarray:
    out: np.ndarray = np.frombuffer(b, dtype=np.float32).reshape(-1, dim).copy()
    return out


def cluster_from_row(row: FaceCluster) -> Cluster:
    return Cluster(
        cluster_id=row.id,
        exemplars=from_bytes(row.exemplars, row.dim),
        vector_sum=from_bytes(row.vector_sum, row.dim)[0],
        count=row.count,
        order=row.order,
    )


def write_cluster(row: FaceCluster, c: Cluster) -> None:
    row.exemplars = to_bytes(c.exemplars)
    row.vector_sum = to_bytes(c.vector_sum)
    row.dim = int(c.exemplars.shape[1])
    row.count = c.count
    row.order = c.order


def new_cluster_row(site_id: str, c: Cluster, at: datetime) -> FaceCluster:
    row = FaceCluster(
        id=c.cluster_id,
        site_id=site_id,
        label=f"C{c.order + 1:05d}",
        status="active",
        first_seen=at,
        last_seen=at,
        created_at=at,
        updated_at=at,
        dim=int(c.exemplars.shape[1]),
        exemplars=b"",
        vector_sum=b"",
        count=0,
    )
    write_cluster(row, c)
    return row


def load_site_clusters(session: Session, site_id: str) -> tuple[list[Cluster], dict[str, str]]:
    """Live clusters (not merged) and the merge aliases of a site."""
    rows = session.scalars(select(FaceCluster).where(FaceCluster.site_id == site_id)).all()
    live = [cluster_from_row(r) for r in rows if r.status != "merged"]
    aliases = {r.id: r.merged_into for r in rows if r.status == "merged" and r.merged_into}
    return live, aliases


@dataclass(frozen=True)
class Location:
    building_id: str | None
    unit: str | None


class LocationResolver(Protocol):
    def locate(self, session: Session, site_id: str, camera_id: str, zone_id: str | None) -> Location: ...


class ZoneLocationResolver:
    """Zone → building from the zones table (cached per site); the zone code is the unit key."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], Location] = {}

    def locate(self, session: Session, site_id: str, camera_id: str, zone_id: str | None) -> Location:
        if zone_id is None:
            return Location(None, None)
        key = (site_id, zone_id)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        from central.models.zones import Zone

        zone = session.scalars(
            select(Zone).where(Zone.site_id == site_id, (Zone.code == zone_id) | (Zone.id == zone_id))
        ).first()
        loc = Location(zone.building_id, zone.code) if zone is not None else Location(None, zone_id)
        self._cache[key] = loc
        return loc

    def forget(self) -> None:
        self._cache.clear()
