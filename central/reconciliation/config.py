"""Configuration of 一标三实 reconciliation (the ``reconciliation`` slice of the central settings).

Thresholds are cosine similarities of L2-normalised embeddings (the default faceplugin
embedder's verification threshold is about 0.34 at FAR 1e-3 on LFW) and day counts.
"""

from __future__ import annotations

from pydantic import Field

from anju.config import StrictModel


class ClusteringConfig(StrictModel):
    """How stranger face tracks are grouped into anonymous identities."""

    link_threshold: float = Field(
        0.42, ge=-1.0, le=1.0, description="best exemplar similarity needed to join an existing cluster"
    )
    centroid_threshold: float = Field(
        0.30, ge=-1.0, le=1.0, description="similarity to the cluster centroid also needed (stops chaining)"
    )
    merge_threshold: float = Field(
        0.50, ge=-1.0, le=1.0, description="exemplar similarity at which two linked clusters merge"
    )
    merge_centroid_threshold: float = Field(
        0.40, ge=-1.0, le=1.0, description="centroid similarity two clusters need to merge"
    )
    split_threshold: float = Field(
        0.22, ge=-1.0, le=1.0, description="a cluster whose two halves are less similar than this splits"
    )
    max_exemplars: int = Field(24, ge=1, le=256, description="diverse vectors kept per cluster")
    exemplar_novelty: float = Field(
        0.85, ge=-1.0, le=1.0, description="a vector becomes an exemplar if no exemplar is this similar"
    )
    min_quality: float = Field(
        0.0, ge=0.0, le=1.0, description="stranger events below this quality are ignored"
    )
    search_k: int = Field(32, ge=1, le=1024, description="exemplars looked at per search")


class OccupantScoring(StrictModel):
    """When a cluster counts as a candidate unregistered occupant (实有人口 not in the registry)."""

    window_days: int = Field(14, ge=1, le=90, description="days of sightings considered")
    min_days_seen: int = Field(4, ge=1, le=90, description="distinct days a cluster must be seen on")
    night_start_hour: int = Field(19, ge=0, le=23, description="local hour at which 'night' starts")
    night_end_hour: int = Field(7, ge=0, le=23, description="local hour at which 'night' ends")
    utc_offset_hours: int = Field(8, ge=-12, le=14, description="site local time offset (China: +8)")
    candidate_threshold: float = Field(0.6, ge=0.0, le=1.0, description="score that puts a cluster in review")
    self_link_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="a cluster seen at one camera while the same registered resident is matched at "
        "another minutes apart on at least this share of its sightings is that resident",
    )
    registered_resemblance: float = Field(
        0.40,
        ge=-1.0,
        le=1.0,
        description="a cluster whose centroid is this similar to an enrolled resident's template is that "
        "resident badly matched by the gates, not an unregistered occupant",
    )


class MovedAwayScoring(StrictModel):
    """When a registered resident counts as a candidate 'moved away' (kept apart from the safety alert)."""

    min_absent_days: float = Field(
        7.0, ge=1.0, le=365.0, description="days unseen before a resident is scored"
    )
    special_care_min_absent_days: float = Field(
        30.0,
        ge=1.0,
        le=365.0,
        description="for special-care residents (elderly living alone…) a short absence is a safety alert, "
        "not a registry change: they are scored only after this many days",
    )
    prior_days_seen_ratio: float = Field(
        0.6, ge=0.01, le=1.0, description="assumed share of days a resident is seen when there is no history"
    )
    candidate_threshold: float = Field(
        0.9, ge=0.0, le=1.0, description="score that puts a resident in review"
    )
    confident_pass_score: float = Field(
        0.5,
        ge=-1.0,
        le=1.0,
        description="face passes below this match score do not count as presence (they may be another "
        "person matched to this resident's template)",
    )


class GridWorkConfig(StrictModel):
    """扫码入户: grid-worker visits to rental houses."""

    rental_visit_period_days: int = Field(
        30, ge=1, le=366, description="each rental house is visited this often"
    )
    task_due_days: int = Field(7, ge=1, le=90, description="days a visit task may take before it is overdue")


class ReconciliationConfig(StrictModel):
    """The whole slice."""

    enabled: bool = Field(True, description="cluster stranger embeddings and score candidates")
    keep_thumbnails: bool = Field(True, description="keep one best face thumbnail per cluster for review")
    sighting_retention_days: int = Field(60, ge=1, le=366, description="stranger sightings are purged after")
    clustering: ClusteringConfig = Field(default_factory=ClusteringConfig)
    occupant: OccupantScoring = Field(default_factory=OccupantScoring)
    moved_away: MovedAwayScoring = Field(default_factory=MovedAwayScoring)
    gridwork: GridWorkConfig = Field(default_factory=GridWorkConfig)
