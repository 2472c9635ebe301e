"""Access rules and multi-frame evidence."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from anju.clock import FakeClock
from contracts.messages import PersonKind
from contracts.whitelist import AccessWindow, WhitelistPerson
from edge.config import DecisionConfig
from edge.decision import AccessRules, CameraContext, DecisionMaker, Observation, Outcome, TrackEvidence
from edge.tracker import FaceTracker, iou
from recognition.types import Detection

# Monday 2026-01-05 10:00 in Shanghai.
MONDAY_10 = datetime(2026, 1, 5, 2, 0, tzinfo=timezone.utc)
GATE = CameraContext(ring=1, zone_id="zone-a", direction="in")


def who(pid: str, kind: PersonKind = PersonKind.owner, **kw: object) -> WhitelistPerson:
    return WhitelistPerson(person_id=pid, kind=kind, **kw)  # type: ignore[arg-type]


def test_rules_validity_windows_and_egress() -> None:
    rules = AccessRules("Asia/Shanghai")
    assert rules.check(who("a"), GATE, MONDAY_10) == (True, "resident")
    assert rules.check(who("a"), CameraContext(4, None, "in"), MONDAY_10)[0] is False
    expired = who("b", valid_until=MONDAY_10 - timedelta(seconds=1))
    assert rules.check(expired, GATE, MONDAY_10) == (False, "expired")
    future = who("c", valid_from=MONDAY_10 + timedelta(hours=1))
    assert rules.check(future, GATE, MONDAY_10) == (False, "not_yet_valid")
    weekend_cleaner = who(
        "d", PersonKind.staff, windows=[AccessWindow(weekdays=[5, 6], start=time(8), end=time(18))]
    )
    assert rules.check(weekend_cleaner, GATE, MONDAY_10) == (False, "outside_access_window")
    assert rules.check(weekend_cleaner, GATE, MONDAY_10 + timedelta(days=5)) == (True, "window")
    assert rules.check(weekend_cleaner, CameraContext(1, "zone-a", "out"), MONDAY_10) == (True, "egress")
    zone_b_only = who("e", windows=[AccessWindow(zone_ids=["zone-b"])])
    assert rules.check(zone_b_only, GATE, MONDAY_10)[0] is False
    night = who("f", windows=[AccessWindow(start=time(22), end=time(6))])  # wraps midnight
    assert rules.check(night, GATE, MONDAY_10)[0] is False
    assert rules.check(night, GATE, MONDAY_10 + timedelta(hours=13))[0] is True  # 23:00 local
    visitor = who("v", PersonKind.visitor)
    assert rules.check(visitor, GATE, MONDAY_10) == (False, "no_access_window")
    assert rules.check(who("w", PersonKind.watchlist), GATE, MONDAY_10) == (False, "watchlist")


def decide(
    obs: list[Observation],
    persons: dict[str, WhitelistPerson],
    *,
    fresh: bool = True,
    now: float = 1.0,
    **cfg: object,
):  # type: ignore[no-untyped-def]
    ev = TrackEvidence(first_at=0.0)
    for o in obs:
        ev.add(o)
    maker = DecisionMaker(DecisionConfig(**cfg), AccessRules())  # type: ignore[arg-type]
    return maker.decide(ev, now_mono=now, now_wall=MONDAY_10, ctx=GATE, lookup=persons, whitelist_fresh=fresh)


PERSONS = {
    "a": who("a"),
    "v": who("v", PersonKind.visitor, windows=[AccessWindow()]),
    "w": who("w", PersonKind.watchlist, watchlist_category="wanted"),
}


def test_one_ordinary_match_is_not_enough() -> None:
    assert decide([Observation(0.9, "a", 0.40, True)], PERSONS) is None
    d = decide([Observation(0.8, "a", 0.40, True), Observation(0.9, "a", 0.42, True)], PERSONS)
    assert (
        d is not None and d.outcome == Outcome.open and d.person_id == "a" and d.score == pytest.approx(0.42)
    )


def test_strong_live_match_decides_alone() -> None:
    d = decide([Observation(0.9, "a", 0.62, True)], PERSONS)
    assert d is not None and d.outcome == Outcome.open
    assert decide([Observation(0.9, "a", 0.62, True)], PERSONS, strong_match_score=None) is None


def test_old_evidence_is_forgotten() -> None:
    obs = [Observation(0.0, "a", 0.40, True), Observation(5.0, "a", 0.40, True)]
    assert decide(obs, PERSONS, now=5.0) is None


def test_visitor_watchlist_liveness_stale() -> None:
    d = decide([Observation(0.8, "v", 0.4, True), Observation(0.9, "v", 0.4, True)], PERSONS)
    assert d is not None and d.outcome == Outcome.visitor and d.opens
    d = decide([Observation(0.9, "w", 0.36, None)], PERSONS)
    assert d is not None and d.outcome == Outcome.watchlist and not d.opens
    assert decide([Observation(0.9, "w", 0.36, None)], PERSONS, watchlist_threshold=0.45) is None
    d = decide([Observation(0.8, "a", 0.6, False, 0.1), Observation(0.9, "a", 0.6, False, 0.2)], PERSONS)
    assert d is not None and d.outcome == Outcome.liveness_failure and d.person_id == "a" and not d.opens
    d = decide([Observation(0.8, "a", 0.5, True), Observation(0.9, "a", 0.5, True)], PERSONS, fresh=False)
    assert d is not None and d.outcome == Outcome.denied and d.reason == "whitelist_stale"


def test_stranger_needs_time_and_several_looks() -> None:
    looks = [Observation(0.2, None, 0.1, None), Observation(0.6, None, 0.05, None)]
    assert decide(looks, PERSONS, now=0.6) is None  # not long enough
    d = decide(looks, PERSONS, now=1.1)
    assert d is not None and d.outcome == Outcome.stranger and d.score == pytest.approx(0.1)
    assert decide(looks[:1], PERSONS, now=1.1) is None  # one look only


def det(x: float, y: float, w: float = 50) -> Detection:
    return Detection((x, y, x + w, y + w), np.zeros((5, 2), np.float32), 0.9)


def test_tracker_follows_moving_faces_and_expires() -> None:
    tr = FaceTracker(iou_threshold=0.3, max_age_s=0.5, max_jump=1.0)
    m, _ = tr.update([det(0, 0), det(200, 0)], 0.0)
    ids = {t.track_id for t in m}
    m, _ = tr.update([det(10, 0), det(210, 5)], 0.1)
    assert {t.track_id for t in m} == ids
    m, _ = tr.update([det(50, 0), det(250, 5)], 0.2)  # jumped: IoU below threshold, centroid still close
    assert {t.track_id for t in m} == ids
    m, ended = tr.update([det(400, 300)], 1.0)
    assert {t.track_id for t in ended} == ids and m[0].track_id not in ids
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)


# -- template pooling -------------------------------------------------------------------------------

THRESHOLD = 0.474


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def looks_at(template: np.ndarray, cosines: list[float], seed: int = 0) -> list[np.ndarray]:
    """Unit vectors at exactly the given cosines to ``template``, each off it in its own random direction."""
    rng = np.random.default_rng(seed)
    out = []
    for c in cosines:
        noise = rng.normal(size=template.shape)
        noise = unit(noise - (noise @ template) * template)
        out.append(c * template + np.sqrt(1 - c * c) * noise)
    return out


def scorer(gallery: dict[str, np.ndarray], threshold: float = THRESHOLD):  # type: ignore[no-untyped-def]
    from edge.decision import pool_vectors

    def pool(vectors):  # type: ignore[no-untyped-def]
        v = pool_vectors(vectors)
        pid, score = max(((p, float(v @ t)) for p, t in gallery.items()), key=lambda kv: kv[1])
        return (pid if score >= threshold else None), score

    return pool


def look(at: float, vec: np.ndarray, gallery: dict[str, np.ndarray], live: bool | None = True) -> Observation:
    """An observation as the worker makes it: top-1 candidate always, person_id only above threshold."""
    pid, score = max(((p, float(vec @ t)) for p, t in gallery.items()), key=lambda kv: kv[1])
    return Observation(at, pid if score >= THRESHOLD else None, score, live, 0.9, pid, vec)


def decide_pooled(obs: list[Observation], gallery: dict[str, np.ndarray], now: float = 0.9, **cfg: object):  # type: ignore[no-untyped-def]
    ev = TrackEvidence(first_at=0.0)
    for o in obs:
        ev.add(o)
    cfg.setdefault("pooling", True)  # off by default (see docs/edge.md)
    maker = DecisionMaker(DecisionConfig(**cfg), AccessRules())  # type: ignore[arg-type]
    return maker.decide(
        ev,
        now_mono=now,
        now_wall=MONDAY_10,
        ctx=GATE,
        lookup=PERSONS,
        whitelist_fresh=True,
        pool=scorer(gallery),
    )


def synthetic_gallery() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {"a": unit(rng.normal(size=128)), "v": unit(rng.normal(size=128))}


def test_pool_vectors_is_the_renormalised_mean_of_unit_vectors() -> None:
    from edge.decision import pool_vectors

    a, b = np.array([2.0, 0.0]), np.array([0.0, 0.5])
    assert np.allclose(pool_vectors([a, b]), [np.sqrt(0.5), np.sqrt(0.5)])
    assert np.linalg.norm(pool_vectors([a])) == pytest.approx(1.0)


def test_two_looks_below_threshold_decide_when_their_pooled_template_matches() -> None:
    g = synthetic_gallery()
    # Two looks at 0.46 (each below 0.474) whose noise points different ways: the pooled template is
    # closer to the person than either look (0.92 / √(2·(1 + 0.46²)) ≈ 0.59 ≥ 0.474).
    e1, e2 = looks_at(g["a"], [0.46, 0.46])
    obs = [look(0.8, e1, g), look(0.9, e2, g)]
    assert all(o.person_id is None and o.candidate_id == "a" for o in obs)
    d = decide_pooled(obs, g)
    assert d is not None and d.outcome == Outcome.open and d.person_id == "a" and d.pooled
    assert d.score >= THRESHOLD > max(o.score for o in obs)
    assert decide_pooled(obs, g, pooling=False) is None  # each look alone is below the threshold
    assert decide_pooled(obs[:1], g) is None  # still several looks: one is never enough
    assert decide_pooled(obs, g, min_consistent_matches=3) is None


def test_pooling_needs_the_same_top1_live_looks_and_a_pooled_score_above_threshold() -> None:
    g = synthetic_gallery()
    e1, e2 = looks_at(g["a"], [0.46, 0.46])
    (other,) = looks_at(g["v"], [0.46], seed=3)
    assert decide_pooled([look(0.8, e1, g), look(0.9, other, g)], g) is None  # top-1 a, then v
    assert decide_pooled([look(0.8, e1, g), look(0.9, e2, g, live=False)], g) is None  # a spoof look
    f1, f2 = looks_at(g["a"], [0.30, 0.32], seed=5)
    assert decide_pooled([look(0.8, f1, g), look(0.9, f2, g)], g) is None  # pooled still below
    # A stranger far from everybody becomes a stranger, pooled or not.
    s1, s2 = looks_at(unit(np.random.default_rng(9).normal(size=128)), [0.99, 0.99])
    d = decide_pooled([look(0.1, s1, g), look(0.2, s2, g)], g, now=1.1)
    assert d is not None and d.outcome == Outcome.stranger


def test_pooled_watchlist_match_alerts_and_vectors_are_forgotten() -> None:
    g = synthetic_gallery()
    g["w"] = g.pop("v")
    e1, e2 = looks_at(g["w"], [0.46, 0.46])
    obs = [look(0.8, e1, g), look(0.9, e2, g)]
    d = decide_pooled(obs, g)
    assert d is not None and d.outcome == Outcome.watchlist and d.pooled and not d.opens
    ev = TrackEvidence(first_at=0.0)
    for o in obs:
        ev.add(o)
    ev.forget_vectors()
    assert all(o.vector is None and o.candidate_id == "w" for o in ev.observations)


def test_pooling_with_real_embeddings_of_the_clip(pipeline: Any, h: Any) -> None:
    """The resident's first video frames, pooled, score at least their mean; a stranger stays far below."""
    import cv2

    from edge.decision import pool_vectors
    from recognition.types import Frame

    ref = h.embed_photo(pipeline, h.EXAMPLES / "lin-manuel-miranda.png")
    cap = cv2.VideoCapture(str(h.CLIP))
    faces: dict[int, list[tuple[float, np.ndarray, float]]] = {}
    index = 0
    while index < 90:
        ok, image = cap.read()
        if not ok:
            break
        if index in (28, 29, 82, 83, 84):
            frame = Frame(image=image)
            for d in pipeline.detect(frame):
                if d.width >= 40:
                    vec = pipeline.embed([pipeline.align(frame, d)])[0].vector
                    faces.setdefault(index, []).append((float(vec @ ref), vec, d.width))
        index += 1
    cap.release()
    # The largest face of each frame: the resident walks in at frame 82; frames 28-29 show a stranger.
    resident = [max(faces[i], key=lambda f: f[2]) for i in (82, 83, 84)]
    pooled = float(pool_vectors([v for _s, v, _w in resident]) @ ref)
    assert pooled >= np.mean([s for s, _v, _w in resident]) - 1e-6
    assert pooled > 0.3
    stranger = [max(faces[i], key=lambda f: f[2]) for i in (28, 29)]
    assert float(pool_vectors([v for _s, v, _w in stranger]) @ ref) < 0.3


# -- consistent looks: one at or above the threshold, the others within consistent_margin below -------

T_HI = 0.474  # the pack's open-set threshold (what the worker applies to Observation.person_id)


def look_scored(clock: FakeClock, pid: str, score: float, live: bool | None = True) -> Observation:
    """An observation as the worker makes it: top-1 ``pid`` at ``score``; person_id only at or above T_HI."""
    clock.advance(1 / 30)
    return Observation(clock.monotonic(), pid if score >= T_HI else None, score, live, 0.9, pid)


def decide_consistent(
    obs: list[Observation],
    clock: FakeClock,
    *,
    threshold: float | None = T_HI,
    persons: dict[str, WhitelistPerson] = PERSONS,
    **cfg: object,
):  # type: ignore[no-untyped-def]
    ev = TrackEvidence(first_at=obs[0].at if obs else 0.0)
    for o in obs:
        ev.add(o)
    maker = DecisionMaker(DecisionConfig(**cfg), AccessRules(), match_threshold=threshold)  # type: ignore[arg-type]
    return maker.decide(
        ev, now_mono=clock.monotonic(), now_wall=MONDAY_10, ctx=GATE, lookup=persons, whitelist_fresh=True
    )


def test_consistent_margin_default_is_the_lfw_calibrated_value() -> None:
    cfg = DecisionConfig()
    assert cfg.consistent_margin == pytest.approx(0.004)
    assert cfg.min_consistent_matches == 2
    with pytest.raises(ValueError):
        DecisionConfig(consistent_margin=-0.01)
    with pytest.raises(ValueError):
        DecisionConfig(consistent_margin=0.2)


def test_one_look_above_and_one_just_below_the_threshold_decide() -> None:
    clock = FakeClock()
    obs = [look_scored(clock, "a", 0.478), look_scored(clock, "a", 0.471)]
    d = decide_consistent(obs, clock)
    assert d is not None and d.outcome == Outcome.open and d.person_id == "a" and d.consistent
    assert d.score == pytest.approx(0.478)
    # The order does not matter: the look below the threshold may come first.
    clock2 = FakeClock()
    d = decide_consistent([look_scored(clock2, "a", 0.471), look_scored(clock2, "a", 0.478)], clock2)
    assert d is not None and d.outcome == Outcome.open and d.consistent
    # Margin 0 is the previous rule (every look at or above the threshold); no threshold given, too.
    assert decide_consistent(obs, clock, consistent_margin=0.0) is None
    assert decide_consistent(obs, clock, threshold=None) is None
    # Two looks at or above the threshold decide as before, not "consistent".
    clock3 = FakeClock()
    d = decide_consistent([look_scored(clock3, "a", 0.48), look_scored(clock3, "a", 0.475)], clock3)
    assert d is not None and d.outcome == Outcome.open and not d.consistent


def test_lower_looks_need_the_same_top1_the_margin_and_one_look_above() -> None:
    clock = FakeClock()
    hi = look_scored(clock, "a", 0.478)
    assert decide_consistent([hi, look_scored(clock, "a", 0.469)], clock) is None  # 0.005 below: too far
    assert decide_consistent([hi, look_scored(clock, "v", 0.472)], clock) is None  # another top-1
    clock2 = FakeClock()
    lows = [look_scored(clock2, "a", 0.472), look_scored(clock2, "a", 0.473)]
    assert decide_consistent(lows, clock2) is None  # no look at the threshold: never decided
    # More looks needed: one above and two within the margin.
    clock3 = FakeClock()
    three = [look_scored(clock3, "a", 0.478), look_scored(clock3, "a", 0.471)]
    assert decide_consistent(three, clock3, min_consistent_matches=3) is None
    three.append(look_scored(clock3, "a", 0.472))
    d = decide_consistent(three, clock3, min_consistent_matches=3)
    assert d is not None and d.outcome == Outcome.open and d.consistent


def test_consistent_looks_are_forgotten_after_the_evidence_window() -> None:
    clock = FakeClock()
    old = look_scored(clock, "a", 0.471)
    clock.advance(2.5)  # past evidence_window_s (2 s)
    assert decide_consistent([old, look_scored(clock, "a", 0.478)], clock) is None


def test_consistent_looks_must_be_live_and_so_must_the_look_above() -> None:
    clock = FakeClock()
    spoofed_low = [look_scored(clock, "a", 0.478), look_scored(clock, "a", 0.471, live=False)]
    assert decide_consistent(spoofed_low, clock) is None
    clock2 = FakeClock()
    spoofed_high = [look_scored(clock2, "a", 0.478, live=False), look_scored(clock2, "a", 0.471)]
    assert decide_consistent(spoofed_high, clock2) is None
    clock3 = FakeClock()
    low_live = [
        look_scored(clock3, "a", 0.478, live=False),
        look_scored(clock3, "a", 0.471),
        look_scored(clock3, "a", 0.472),
    ]
    assert decide_consistent(low_live, clock3) is None  # two live looks, but none of them above


def test_watchlist_stays_at_its_own_threshold_and_never_opens() -> None:
    clock = FakeClock()
    # Looks just below the threshold never count for a watchlisted person (no alert from them)...
    obs = [look_scored(clock, "w", 0.478), look_scored(clock, "w", 0.471)]
    assert decide_consistent(obs, clock, watchlist_threshold=0.49) is None
    clock2 = FakeClock()
    lows = [look_scored(clock2, "w", 0.472), look_scored(clock2, "w", 0.473)]
    assert decide_consistent(lows, clock2) is None
    # ...one look at the (watchlist) threshold alerts, as before, and never opens.
    d = decide_consistent(obs, clock)
    assert d is not None and d.outcome == Outcome.watchlist and not d.opens and not d.consistent
    # A track that showed a watchlisted person at their threshold alerts even if a resident matched it
    # with more consistent looks.
    clock3 = FakeClock()
    mixed = [
        look_scored(clock3, "a", 0.478),
        look_scored(clock3, "a", 0.471),
        look_scored(clock3, "a", 0.48),
        look_scored(clock3, "w", 0.48),
    ]
    d = decide_consistent(mixed, clock3)
    assert d is not None and d.outcome == Outcome.watchlist and d.person_id == "w" and not d.opens


def test_real_clip_embeddings_decide_two_frames_earlier(pipeline: Any) -> None:
    """The resident's first frames (82-86), enrolled from the bench's photos: the look at frame 84 is
    0.001-0.002 above T_lo, so the door decision moves from frame 86 to frame 84."""
    import cv2

    from recognition.types import Frame

    demo = Path(__file__).resolve().parents[2] / "anju" / "demo_data"
    clip = demo / "short_hamilton_clip.mp4"
    gallery: dict[str, np.ndarray] = {}
    for pid, name in (("a", "lin-manuel-miranda.jpg"), ("v", "alex-lacamoire.jpg")):
        photo = Frame(image=cv2.imread(str(demo / name)))
        det = max(pipeline.detect(photo), key=lambda d: d.width * d.height)
        gallery[pid] = pipeline.embed([pipeline.align(photo, det)])[0].vector
    threshold = pipeline.open_set_threshold
    cap = cv2.VideoCapture(str(clip))
    scores: dict[int, tuple[str, float]] = {}
    index = 0
    while index <= 86:
        ok, image = cap.read()
        assert ok
        if index >= 82:
            frame = Frame(image=image)
            det = max((d for d in pipeline.detect(frame) if d.width >= 40), key=lambda d: d.width)
            vec = pipeline.embed([pipeline.align(frame, det)])[0].vector
            scores[index] = max(((p, float(vec @ t)) for p, t in gallery.items()), key=lambda kv: kv[1])
        index += 1
    cap.release()
    assert all(pid == "a" for pid, _s in scores.values()), scores

    def first_deciding_frame(**cfg: object) -> tuple[int, Any] | None:
        clock = FakeClock()
        ev = TrackEvidence(first_at=0.0)
        maker = DecisionMaker(DecisionConfig(**cfg), AccessRules(), match_threshold=threshold)  # type: ignore[arg-type]
        for i in sorted(scores):
            clock.advance(1 / 30)
            pid, s = scores[i]
            ev.add(Observation(clock.monotonic(), pid if s >= threshold else None, s, True, 0.9, pid))
            d = maker.decide(
                ev,
                now_mono=clock.monotonic(),
                now_wall=MONDAY_10,
                ctx=GATE,
                lookup=PERSONS,
                whitelist_fresh=True,
            )
            if d is not None:
                return i, d
        return None

    consistent = first_deciding_frame()
    before = first_deciding_frame(consistent_margin=0.0)
    assert consistent is not None and before is not None, scores
    assert consistent[0] == 84 and consistent[1].consistent and consistent[1].outcome == Outcome.open, scores
    assert before[0] == 86 and not before[1].consistent, scores
