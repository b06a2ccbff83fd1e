"""The demo's training set: which frames it holds.

Half of it (by default) is the overfitted scene, as copies of the evaluation demo's own
frames of that scene (leakage: the cause the report's coverage section should reveal);
the rest are other frames of the other scenes.
"""

from __future__ import annotations

from aquaembed.demo.build import frame_plan
from aquaembed.demo.config import DemoConfig
from aquaembed.errors import ParameterError

__all__ = ["TRAIN_FIRST_ID", "TRAIN_FRAME_OFFSET", "train_plan"]

TRAIN_FIRST_ID = 100_001
"""First image id of the demo's training set (its ids never collide with the evaluation set's)."""

TRAIN_FRAME_OFFSET = 100_000
"""Frame indices of the training set's frames of the other scenes start here, so they are
other frames of those scenes (same look, other traffic), not copies of evaluation frames."""


def train_plan(cfg: DemoConfig, frames: int, *, share: float = 0.5, eval_frames: int = 3000) -> list[tuple[int, int, int]]:
    """The demo's training set: ``share`` of its frames from the overfitted scene, the rest
    spread evenly over the other scenes (``(image_id, scene index, frame index)``).

    The overfitted scene's training frames are the evaluation demo's own frames of that
    scene (of a demo of ``eval_frames`` frames), cycled when there are more: leakage, the
    cause the coverage section is meant to reveal. The other scenes get frames of their
    own (frame indices from :data:`TRAIN_FRAME_OFFSET`)."""
    if not 0.0 <= share <= 1.0:
        raise ParameterError(f"share must lie in [0, 1], got {share!r}", parameter="share")
    heavy = int(round(frames * share))
    others = [s for s in range(len(cfg.scenes)) if s != cfg.overfitted_scene]
    base, extra = divmod(frames - heavy, len(others))
    per_scene = {cfg.overfitted_scene: heavy, **{s: base + (i < extra) for i, s in enumerate(others)}}
    in_eval = sum(1 for _, s, _ in frame_plan(cfg, eval_frames) if s == cfg.overfitted_scene)
    plan = []
    image_id = TRAIN_FIRST_ID
    for s in range(len(cfg.scenes)):
        for f in range(per_scene[s]):
            index = f % max(in_eval, 1) if s == cfg.overfitted_scene else TRAIN_FRAME_OFFSET + f
            plan.append((image_id, s, index))
            image_id += 1
    return plan
