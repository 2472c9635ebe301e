"""One worker per camera: newest frame → faces → tracks → evidence → door decision.

The worker thread owns all per-camera state (tracker, per-track evidence, QR
de-duplication), so none of it needs a lock. It always analyses the newest frame
(the camera source drops stale frames and counts them): at ``detect_fps``, up to
``max_detect_fps`` while the node has spare CPU, and every decoded frame while
a face in view is undecided (burst). A track is embedded only when it is new,
when its face quality clearly improved, or — while still undecided — every
``reembed_interval_s`` to collect the multi-frame evidence; once decided it
costs detection only. Face crops live only in this loop's locals: they are gone
when the decision is made (privacy).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np

from contracts.messages import (
    Credential,
    Direction,
    LivenessFailureEvent,
    PassEvent,
    PersonKind,
    StrangerEvent,
    WatchlistHitEvent,
)
from contracts.passes import PassKind
from edge.camera import CameraSource
from edge.config import CameraConfig
from edge.decision import CameraContext, Decision, Observation, Outcome, TrackEvidence, pool_vectors
from edge.passes import QrReader
from edge.tracker import FaceTracker, Track
from recognition.types import AlignedFace, Detection, Frame, Quality

if TYPE_CHECKING:
    from edge.app import NodeServices

log = logging.getLogger(__name__)


@dataclass
class TrackState:
    """What the worker knows about one face track."""

    evidence: TrackEvidence
    first_frame_ts: float  # capture time (monotonic) of the track's first analysed frame
    first_frame_index: int = 0
    first_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    best_quality: float = -1.0
    last_embed_at: float | None = None
    embeds: int = 0
    decision: Decision | None = None
    last_quality: Quality | None = None
    in_flight: int = 0  # embeddings submitted and not yet applied
    seen_at: float = -1.0  # capture time of the last analysed frame that showed this face
    best_embedding: np.ndarray | None = field(default=None, repr=False)


class _Burst(Enum):
    none = "none"  # no face in view waits for a decision: analyse at detect_fps
    ready = "ready"  # an undecided face can take another look: analyse the next decoded frame now
    saturated = "saturated"  # undecided faces have all their looks in flight: wait for one to finish


@dataclass(frozen=True)
class DecisionRecord:
    """A decision with the timing the benchmark needs."""

    camera_id: str
    track_id: int
    decision: Decision
    first_frame_ts: float
    decided_at: float
    frame_index: int
    first_frame_index: int
    first_box: tuple[float, float, float, float]


@dataclass
class WorkerStats:
    analysed: int = 0
    faces: int = 0
    eligible: int = 0  # faces good enough to embed, counted in every analysed frame
    embeddings: int = 0
    embed_seconds: float = 0.0
    detect_seconds: float = 0.0
    decisions: list[DecisionRecord] = field(default_factory=list)


@dataclass(frozen=True)
class _EmbedItem:
    track_id: int
    detection: Detection
    aligned: AlignedFace
    quality: float
    box: tuple[float, float, float, float]
    live_on_worker: bool = False  # liveness runs on the worker thread, beside the embedding


@dataclass(frozen=True)
class _EmbedResult:
    item: _EmbedItem
    observation: Observation
    vector: np.ndarray


@dataclass(frozen=True)
class _EmbedBatch:
    frame: Frame
    results: list[_EmbedResult]
    seconds: float


class CameraWorker:
    """Analyses one camera on its own thread (embeddings on a small pool, results applied here)."""

    def __init__(self, cfg: CameraConfig, source: CameraSource, services: NodeServices) -> None:
        self.cfg = cfg
        self.source = source
        self.svc = services
        self.pipeline = services.make_pipeline()
        d = services.decision_cfg
        t = services.tracking_cfg
        self.tracker = FaceTracker(
            iou_threshold=t.iou_threshold, max_age_s=t.max_age_s, max_jump=t.max_centroid_jump
        )
        self.ctx = CameraContext(ring=cfg.ring, zone_id=cfg.zone_id, direction=cfg.direction)
        self.dcfg = d
        self.states: dict[int, TrackState] = {}
        self.qr = QrReader() if (services.passes is not None and cfg.read_qr) else None
        self._used_passes: dict[str, float] = {}
        self._recent_grants: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = WorkerStats()
        self._last_dropped = 0
        self.has_liveness = getattr(self.pipeline, "liveness_model", None) is not None
        # Embedding is the slow stage (tens of ms); with a pool, consecutive frames of a new face are
        # embedded at once on different cores. Results come back to this worker's thread, which alone
        # touches the track state. 0 threads = embed inline.
        threads = d.embed_threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=f"embed-{cfg.id}") if threads else None
        self.max_in_flight = max(1, threads)
        self._pending: list[Future[_EmbedBatch]] = []
        self._wake = threading.Event()
        self._last_ts = -1.0  # capture time of the last analysed frame
        self._near_miss = services.match_threshold - d.look_again_margin
        # Looks this close below the threshold count towards a person who also has a look above it.
        self._t_lo = services.match_threshold - d.consistent_margin if d.consistent_margin > 0 else None
        self._early_live: dict[tuple[int, int], tuple[bool, float]] = {}  # (track, frame) → liveness

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"worker-{self.cfg.id}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        clock = self.svc.clock
        period = 1.0 / self.cfg.detect_fps
        fast = 1.0 / max(self.cfg.detect_fps, self.cfg.max_detect_fps)
        next_due = clock.monotonic()
        last_at = next_due
        while not self._stop.is_set():
            try:
                self._collect()
            except Exception:
                log.exception("camera %s: applying embeddings failed", self.cfg.id)
            burst = self._burst() if self.dcfg.burst_when_undecided else _Burst.none
            if burst is _Burst.saturated and self._pending:
                # Every undecided face already has its looks in flight: a frame analysed now could not be
                # embedded. Wait for an embedding to finish (it wakes us), then take the newest frame.
                self._wake.wait(period)
                self._wake.clear()
                continue
            if burst is not _Burst.ready:
                now = clock.monotonic()
                wait = next_due - now
                if wait > 0 and self._spare_cpu():
                    # Spare CPU: analyse up to max_detect_fps, so a face walking in is seen at once.
                    wait = min(wait, max(0.0, last_at + fast - now))
                if wait > 0:
                    # Sleep until the cadence is due; a finishing embedding wakes us early because its
                    # result can leave a face undecided (burst) — re-check at once instead of sleeping on.
                    self._wake.wait(wait)
                    self._wake.clear()
                    continue
            frame = self.source.latest(timeout_s=0.02 if self._pending else 0.5)
            if frame is None:
                continue
            # A burst or spare-CPU frame restarts the cadence: the next one is due a period after it.
            now = last_at = clock.monotonic()
            next_due = max(next_due + period, now) if now >= next_due else now + period
            cpu0 = time.thread_time()
            try:
                self.process(frame)
            except Exception:
                # One bad frame must not stop the gate; the error is logged with the camera named.
                log.exception("camera %s: frame %d failed", self.cfg.id, frame.index)
            self.svc.load.add(time.thread_time() - cpu0)

    def _spare_cpu(self) -> bool:
        return self.cfg.cpu_budget > 0 and self.svc.load.fraction() < self.cfg.cpu_budget

    def undecided(self) -> bool:
        """Some face in view still lacks the evidence for its decision and can take a look now."""
        return self._burst() is _Burst.ready

    def _burst(self) -> _Burst:
        """Burst state: a face in view is undecided and can take another look now (ready), has all its
        looks in flight (saturated), or no face is waiting for a decision (none)."""
        state = _Burst.none
        for st in self.states.values():
            if (
                st.seen_at != self._last_ts
                or not self._needs_evidence(st)
                or not self._usable(st.last_quality)
            ):
                continue  # not in the newest analysed frame, decided, or not worth a look
            if st.in_flight < self.max_in_flight:
                return _Burst.ready
            state = _Burst.saturated
        return state

    def _usable(self, q: Quality | None) -> bool:
        return q is not None and "too_small" not in q.reasons and q.score >= self.dcfg.min_quality

    def _needs_evidence(self, st: TrackState) -> bool:
        """Undecided and more looks would help: a stranger with enough unmatched looks only waits."""
        if st.decision is not None:
            return False
        obs = st.evidence.observations
        if len(obs) < self.dcfg.min_consistent_matches:
            return True
        if any(o.person_id is not None for o in obs):
            return True
        # A near miss (a resident at a poor angle?) keeps being looked at until a stranger could be
        # decided anyway; a face far below the threshold is a stranger after N looks.
        young = self._last_ts - st.evidence.first_at < self.dcfg.stranger_after_s
        return young and any(o.score >= self._near_miss for o in obs)

    # -- per frame -------------------------------------------------------------------------------

    def process(self, frame: Frame) -> list[DecisionRecord]:
        """Analyse one frame; returns the decisions it produced (also used by the benchmark)."""
        clock = self.svc.clock
        m = self.svc.metrics
        cam = self.cfg.id
        t0 = clock.monotonic()
        dets = [d for d in self.pipeline.detect(frame) if d.width >= self.cfg.min_face_px]
        t1 = clock.monotonic()
        self.stats.detect_seconds += t1 - t0
        self.stats.analysed += 1
        self.stats.faces += len(dets)
        m.detect_seconds.labels(cam).observe(t1 - t0)
        m.analysed.labels(cam).inc()
        m.faces.labels(cam).inc(len(dets))
        dropped = self.source.stats.dropped
        if dropped > self._last_dropped:
            m.dropped.labels(cam).inc(dropped - self._last_dropped)
            self._last_dropped = dropped

        tracks, ended = self.tracker.update(dets, frame.timestamp)
        self._last_ts = frame.timestamp
        for trk in ended:
            self.states.pop(trk.track_id, None)  # crops and evidence of a gone face are discarded
            for key in [k for k in self._early_live if k[0] == trk.track_id]:
                del self._early_live[key]  # a failed embedding batch never collected its liveness

        door = self.cfg.door_id
        if door is not None and tracks:
            counting = False
            for trk in tracks:
                counting |= self.svc.doors.observe_track(door, cam, trk.track_id, len(tracks))
            if (
                counting
                and self.svc.snapshots.allows("tailgating")
                and self.svc.doors.wants_snapshot(door, len(tracks))
            ):
                from edge.privacy import encode_snapshot

                jpeg = encode_snapshot(frame.image, self.svc.snapshots.cfg.snapshot_max_px)
                self.svc.doors.offer_snapshot(door, len(tracks), jpeg)

        records: list[DecisionRecord] = []
        to_embed: list[tuple[Track, TrackState, AlignedFace, Quality]] = []
        for trk in tracks:
            st = self.states.get(trk.track_id)
            if st is None:
                st = TrackState(
                    evidence=TrackEvidence(first_at=frame.timestamp),
                    first_frame_ts=frame.timestamp,
                    first_frame_index=frame.index,
                    first_box=trk.box,
                )
                self.states[trk.track_id] = st
            st.seen_at = frame.timestamp
            aligned = self.pipeline.align(frame, trk.detection)
            q = self.pipeline.quality(frame, trk.detection, aligned)
            st.last_quality = q
            if st.decision is not None:
                if "too_small" not in q.reasons and q.score >= self.dcfg.min_quality:
                    self.stats.eligible += 1
                # Decided tracks are embedded again only when the face got clearly better: that catches a
                # track that jumped to another person (or a stranger who turned to the camera).
                if (
                    q.score >= st.best_quality + self.dcfg.quality_improvement
                    and "too_small" not in q.reasons
                    and st.in_flight == 0
                ):
                    to_embed.append((trk, st, aligned, q))
                continue
            # Tiny faces give meaningless vectors; other quality problems (blur, pose) lower the score,
            # and such faces may still be reported as strangers (with their quality), never opened for
            # unless they match above the threshold.
            if "too_small" in q.reasons or q.score < self.dcfg.min_quality:
                continue
            self.stats.eligible += 1  # what a per-frame policy would embed
            new = st.embeds == 0
            improved = q.score >= st.best_quality + self.dcfg.quality_improvement
            due = (
                st.last_embed_at is not None
                and frame.timestamp - st.last_embed_at >= self.dcfg.reembed_interval_s
                and self._needs_evidence(st)
            )
            if (new or improved or due) and st.in_flight < self.max_in_flight:
                to_embed.append((trk, st, aligned, q))

        if len(to_embed) > self.dcfg.max_embeds_per_frame:
            # Crowded frame: faces one look away from a door decision first, then new faces, best first;
            # the rest are embedded on the next frames (they stay eligible as new/due).
            def priority(item: tuple[Track, TrackState, AlignedFace, Quality]) -> tuple[int, int, float]:
                _trk, st, _a, q = item
                pending = any(o.person_id is not None for o in st.evidence.observations)
                return (0 if pending else 1, 0 if st.embeds == 0 else 1, -q.score)

            to_embed = sorted(to_embed, key=priority)[: self.dcfg.max_embeds_per_frame]
        if to_embed:
            checks_live = self.dcfg.require_liveness and self.has_liveness and self._pool is not None
            items = [
                _EmbedItem(
                    trk.track_id,
                    trk.detection,
                    a,
                    q.score,
                    trk.box,
                    # A track that already looked like somebody will need liveness for this look too:
                    # check it here while a pool thread embeds, not after the embedding (saves ~7 ms).
                    checks_live and any(o.score >= self._near_miss for o in st.evidence.observations),
                )
                for trk, st, a, q in to_embed
            ]
            for _trk, st, _a, _q in to_embed:
                st.in_flight += 1
            if self._pool is None:
                records += self._apply(self._embed(frame, items))
            else:
                fut = self._pool.submit(self._embed, frame, items)
                fut.add_done_callback(self._embedded)
                self._pending.append(fut)
                for it in items:
                    if it.live_on_worker:
                        lv = self.pipeline.liveness(frame, it.detection)
                        self._early_live[(it.track_id, frame.index)] = (lv.live, lv.score)

        for trk in tracks:
            rec = self._decide(trk.track_id, frame)
            if rec is not None:
                records.append(rec)

        if self.qr is not None and self.stats.analysed % self.svc.qr_every_n == 0:
            self._read_passes(frame)
        return records

    # -- embeddings (pool threads) and their results (worker thread) ------------------------------

    def _embed(self, frame: Frame, items: list[_EmbedItem]) -> _EmbedBatch:
        """Embed, search and (for claimed identities) check liveness; touches no track state."""
        clock = self.svc.clock
        t0 = clock.monotonic()
        cpu0 = time.thread_time()
        embeddings = self.pipeline.embed([it.aligned for it in items])
        threshold = self.svc.match_threshold
        results: list[_EmbedResult] = []
        for it, emb in zip(items, embeddings, strict=True):
            best = self.svc.whitelist.search(emb.vector, 3).best
            score = best.score if best is not None else -1.0
            pid = best.person_id if best is not None and best.score >= threshold else None
            candidate = best.person_id if best is not None else None
            live: bool | None = None
            live_score = 0.0
            # Liveness matters only for a face that claims an identity or may do so with other looks
            # (consistent, or pooled for a near miss); a stranger photo opens nothing.
            claims = self._claims(pid, score)
            if claims and self.dcfg.require_liveness and self.has_liveness and not it.live_on_worker:
                lv = self.pipeline.liveness(frame, it.detection)
                live, live_score = lv.live, lv.score
            # The look's embedding is kept (until the decision) only where the pooled rule needs it.
            vector = emb.vector if self.dcfg.pooling else None
            obs = Observation(frame.timestamp, pid, score, live, live_score, candidate, vector)
            results.append(_EmbedResult(it, obs, emb.vector))
        if self._pool is not None:
            self.svc.load.add(time.thread_time() - cpu0)  # inline embeds count in process()'s sample
        return _EmbedBatch(frame, results, clock.monotonic() - t0)

    def _another_face(self, decision: Decision, obs: Observation) -> bool:
        """Whether a decided track's new look shows somebody else (the tracker jumped): it names another
        person, or no longer resembles the decided one. A weaker look at the same person — same top-1,
        within look_again_margin of the threshold — is not a new face: deciding again would open the
        door a second time (seen on a busy box, where a decided track's look scored 0.45)."""
        if obs.person_id == decision.person_id:
            return False
        if decision.person_id is None or obs.person_id is not None:
            return True
        return obs.candidate_id != decision.person_id or obs.score < self._near_miss

    def _claims(self, person_id: str | None, score: float) -> bool:
        """Whether a look may count for an identity (so its liveness matters)."""
        if person_id is not None:
            return True
        if self._t_lo is not None and score >= self._t_lo:
            return True  # a consistent look below the threshold
        return self.dcfg.pooling and score >= self._near_miss

    def _embedded(self, _fut: Future[_EmbedBatch]) -> None:
        """An embedding finished (pool thread): wake the worker, also from waiting for the next frame,
        so its result — maybe the door decision — is applied now rather than with the next frame."""
        self._wake.set()
        self.source.interrupt()

    def _collect(self) -> list[DecisionRecord]:
        """Apply every finished embedding batch (worker thread only)."""
        records: list[DecisionRecord] = []
        done = [f for f in self._pending if f.done()]
        for fut in done:
            self._pending.remove(fut)
            try:
                batch = fut.result()
            except Exception:
                log.exception("camera %s: embedding failed", self.cfg.id)
                continue
            records += self._apply(batch)
        return records

    def _apply(self, batch: _EmbedBatch) -> list[DecisionRecord]:
        cam = self.cfg.id
        m = self.svc.metrics
        self.stats.embed_seconds += batch.seconds
        self.stats.embeddings += len(batch.results)
        m.embed_seconds.labels(cam).observe(batch.seconds)
        m.embeddings.labels(cam).inc(len(batch.results))
        frame = batch.frame
        records: list[DecisionRecord] = []
        for res in batch.results:
            early = self._early_live.pop((res.item.track_id, frame.index), None)
            st = self.states.get(res.item.track_id)
            if st is None:
                continue  # the face left meanwhile: its embedding is dropped
            st.in_flight = max(0, st.in_flight - 1)
            obs = res.observation
            claims = self._claims(obs.person_id, obs.score)
            if early is not None and claims:
                obs = replace(obs, live=early[0], liveness_score=early[1])
            if st.decision is not None and self._another_face(st.decision, obs):
                log.info(
                    "camera %s track %d: now %s, was %s: deciding again",
                    cam,
                    res.item.track_id,
                    obs.person_id,
                    st.decision.person_id,
                )
                st.decision = None
                st.evidence = TrackEvidence(first_at=frame.timestamp)
                st.first_frame_ts = frame.timestamp
                st.first_frame_index = frame.index
                st.first_box = res.item.box
            st.evidence.add(obs)
            st.embeds += 1
            st.last_embed_at = frame.timestamp
            if res.item.quality > st.best_quality:
                st.best_quality = res.item.quality
                st.best_embedding = res.vector
            rec = self._decide(res.item.track_id, frame)
            if rec is not None:
                records.append(rec)
        return records

    def _decide(self, track_id: int, frame: Frame) -> DecisionRecord | None:
        st = self.states.get(track_id)
        if st is None or st.decision is not None or not st.evidence.observations:
            return None
        clock = self.svc.clock
        decision = self.svc.decider.decide(
            st.evidence,
            now_mono=max(frame.timestamp, st.evidence.observations[-1].at),
            now_wall=clock.now(),
            ctx=self.ctx,
            lookup=self.svc.whitelist.persons,
            whitelist_fresh=self.svc.whitelist_age_s() <= self.dcfg.max_offline_s,
            pool=self._pool_score,
        )
        if decision is None:
            return None
        st.decision = decision
        decided_at = clock.monotonic()
        cam = self.cfg.id
        rec = DecisionRecord(
            cam,
            track_id,
            decision,
            st.first_frame_ts,
            decided_at,
            frame.index,
            st.first_frame_index,
            st.first_box,
        )
        self.stats.decisions.append(rec)
        m = self.svc.metrics
        m.decisions.labels(cam, decision.outcome.value).inc()
        m.decision_seconds.labels(cam, decision.outcome.value).observe(
            max(0.0, decided_at - st.first_frame_ts)
        )
        self._act(decision, track_id, st, frame)
        st.best_embedding = None  # biometric data not needed any more
        st.evidence.forget_vectors()
        return rec

    def _pool_score(self, vectors: Sequence[np.ndarray]) -> tuple[str | None, float]:
        """The track's pooled template against the local list: (top-1 if ≥ threshold + margin, score)."""
        best = self.svc.whitelist.search(pool_vectors(vectors), 3).best
        if best is None:
            return None, -1.0
        needed = self.svc.match_threshold + self.dcfg.pooled_margin
        return (best.person_id if best.score >= needed else None), best.score

    # -- actions ---------------------------------------------------------------------------------

    def _act(self, decision: Decision, track_id: int, st: TrackState, frame: Frame) -> None:
        svc = self.svc
        cam = self.cfg
        common = {
            "camera_id": cam.id,
            "zone_id": cam.zone_id,
            "ring": cam.ring,
            "direction": Direction(cam.direction),
        }
        captured = svc.wall_time_of(frame.timestamp)
        outcome = decision.outcome
        if decision.opens and decision.person_id is not None:
            pid = decision.person_id
            if cam.door_id is not None:
                svc.doors.grant(cam.door_id, pid, reason=f"face {pid}", camera_id=cam.id)
            last = self._recent_grants.get(pid)
            self._recent_grants[pid] = frame.timestamp
            if last is not None and frame.timestamp - last < self.dcfg.regrant_after_s:
                return  # the same person still at the gate (new track after an occlusion): no new event
            svc.events.emit(
                PassEvent,
                captured,
                **common,
                person_id=pid,
                person_kind=decision.person_kind or PersonKind.owner,
                door_id=cam.door_id,
                credential=Credential.face,
                score=_clip(decision.score),
                track_id=track_id,
            )
        elif outcome == Outcome.stranger:
            emb_b64 = None
            if svc.snapshots.cfg.reconciliation and st.best_embedding is not None:
                emb_b64 = base64.b64encode(np.asarray(st.best_embedding, dtype=np.float32).tobytes()).decode(
                    "ascii"
                )
            svc.events.emit(
                StrangerEvent,
                captured,
                **common,
                track_id=track_id,
                best_score=_clip(decision.score),
                quality=max(0.0, min(1.0, st.best_quality)),
                model_id=svc.model_id[:64],
                embedding_b64=emb_b64,
                snapshot=svc.snapshots.make("stranger", frame.image, f"{cam.id}-{track_id}"),
            )
        elif outcome == Outcome.watchlist and decision.person_id is not None:
            person = svc.whitelist.persons.get(decision.person_id)
            svc.events.emit(
                WatchlistHitEvent,
                captured,
                **common,
                person_id=decision.person_id,
                category=(person.watchlist_category or "") if person else "",
                score=_clip(decision.score),
                track_id=track_id,
                snapshot=svc.snapshots.make("watchlist_hit", frame.image, f"{cam.id}-{track_id}"),
            )
        elif outcome == Outcome.liveness_failure:
            svc.events.emit(
                LivenessFailureEvent,
                captured,
                **common,
                score=max(0.0, min(1.0, decision.score)),
                threshold=svc.liveness_threshold,
                claimed_person_id=decision.person_id,
                track_id=track_id,
                snapshot=svc.snapshots.make("liveness_failure", frame.image, f"{cam.id}-{track_id}"),
            )
        else:
            log.info(
                "camera %s track %d: %s denied (%s)",
                cam.id,
                track_id,
                decision.person_id,
                decision.reason,
            )

    def _read_passes(self, frame: Frame) -> None:
        assert self.qr is not None
        verifier = self.svc.passes
        if verifier is None:
            return
        tokens = self.qr.read(frame.image)
        if not tokens:
            return
        now_wall = self.svc.clock.now()
        for token in tokens:
            check = verifier.check(
                token,
                now=now_wall,
                ring=self.cfg.ring,
                zone_id=self.cfg.zone_id,
                offline_for_s=self.svc.whitelist_age_s(),
            )
            payload = check.payload
            key = payload.pass_id if payload is not None else token[:64]
            last = self._used_passes.get(key)
            if last is not None and frame.timestamp - last < self.dcfg.regrant_after_s:
                continue  # the same pass held up for several frames: one opening
            self._used_passes[key] = frame.timestamp
            if not check.ok or payload is None:
                log.warning("camera %s: QR pass refused: %s", self.cfg.id, check.reason)
                continue
            if self.cfg.door_id is not None:
                self.svc.doors.grant(
                    self.cfg.door_id, f"pass:{payload.pass_id}", reason="qr pass", camera_id=self.cfg.id
                )
            is_visitor = payload.kind == PassKind.visitor
            self.svc.events.emit(
                PassEvent,
                self.svc.wall_time_of(frame.timestamp),
                camera_id=self.cfg.id,
                zone_id=self.cfg.zone_id,
                ring=self.cfg.ring,
                direction=Direction(self.cfg.direction),
                person_id=(payload.person_id or payload.pass_id)[:64],
                person_kind=PersonKind.visitor if is_visitor else PersonKind.owner,
                door_id=self.cfg.door_id,
                credential=Credential.qr,
                pass_id=payload.pass_id,
            )


def _clip(score: float) -> float:
    return max(-1.0, min(1.0, float(score)))
