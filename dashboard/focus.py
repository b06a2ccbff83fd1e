"""What the failure report isolates on the other views: a cluster or a slice.

The page state carries ``focus`` (``"cluster:<id>"`` or ``"slice:<rank>"``; for "where B
regressed" on the compare tab ``"bcluster:<id>@<k>"`` / ``"bslice:<rank>@<k>"``, B being the
dataset's k-th inference set and A the state's), resolved here against the report the library
computes at the state's options (and custom metric): the embedding map draws
only the cluster's crops, the frame grid shows only the focused frames, and a banner says
what is isolated (with the slice's metrics against the rest).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from aquaembed.errors import AquaembedError

__all__ = ["focus_frame_ids", "focus_record", "focus_rows", "valid_focus"]

_FOCUS = re.compile(r"^(cluster|slice):(\d{1,9})$|^b(cluster|slice):(\d{1,9})@(\d{1,4})$")


def valid_focus(text: str | None) -> str:
    """The focus when well-formed, else ``""``."""
    return text if text and _FOCUS.match(text) else ""


def focus_record(ctx: Any, st: Any) -> tuple[str, dict[str, Any]] | None:
    """``(kind, record)`` of the focused cluster or slice, or None."""
    m = _FOCUS.match(st.focus or "")
    if not m:
        return None
    view = ctx.view(st.dataset)
    metric = st.metric_name
    scenario = st.scenario_name
    try:
        if m.group(1):
            kind, n = m.group(1), int(m.group(2))
            if kind == "cluster":
                rows = view.failure_clusters(st.model, st.options, scenario=scenario) if metric in (None, "builtin") else []
            else:
                rows = view.slice_departures(st.model, st.options, metric=metric, scenario=scenario)["slices"]
        else:
            kind, n, k = m.group(3), int(m.group(4)), int(m.group(5))
            models = view.models()
            if k >= len(models):
                return None
            b = models[k]
            rows = view.regression_clusters(st.model, b, st.options, scenario=scenario) if kind == "cluster" \
                else view.regression_slices(st.model, b, st.options, scenario=scenario)["slices"]
    except AquaembedError:
        return None
    return (kind, rows[n]) if n < len(rows) else None


def focus_rows(ctx: Any, st: Any, proj: dict[str, Any]) -> np.ndarray | None:
    """Projection rows of the focused cluster's crops (crop map), or of the slice's frames (frame map)."""
    hit = focus_record(ctx, st)
    if hit is None:
        return None
    kind, rec = hit
    if proj.get("kind") == "crop":
        if kind != "cluster":
            frames = focus_frame_ids(ctx, st)
            return np.flatnonzero(np.isin(np.asarray(proj["frame_id"]), frames))
        src = 0 if rec["crops"] and rec["crops"][0]["source"] == "label" else 1
        ids = np.asarray([c["id"] for c in rec["crops"]], dtype=np.int64)
        return np.flatnonzero((np.asarray(proj["source"]) == src) & np.isin(np.asarray(proj["ids"]), ids))
    frames = focus_frame_ids(ctx, st)
    return np.flatnonzero(np.isin(np.asarray(proj["ids"]), frames))


def focus_frame_ids(ctx: Any, st: Any) -> np.ndarray | None:
    """Frame ids of the focused cluster or slice."""
    hit = focus_record(ctx, st)
    if hit is None:
        return None
    kind, rec = hit
    if kind == "cluster":
        return np.asarray(rec["frames"], dtype=np.int64)
    view = ctx.view(st.dataset)
    ids = view.slice_frame_ids(rec)
    scenario = st.scenario_name
    if scenario is None:
        return ids
    try:
        mask = view.scenario_mask(scenario)
    except AquaembedError:
        return ids
    return ids if mask is None else np.intersect1d(ids, view.dataset.frames.id[mask])


def describe(rec_kind: str, rec: dict[str, Any]) -> str:
    """One line naming the focused cluster or slice."""
    if rec_kind == "cluster":
        classes = ", ".join(f"{k} {v}" for k, v in list(rec["classes"].items())[:3])
        what = "broken label" if rec["type"] == "broken" else rec["type"]
        return f"cluster #{rec['id']}: {rec['size']} {what} crops ({classes}) in {len(rec['frames'])} frames"
    field = " & ".join(rec["field"]) if isinstance(rec["field"], list) else rec["field"]
    value = " & ".join(map(str, rec["value"])) if isinstance(rec["value"], list) else rec["value"]
    counts = (f"broken {rec['broken']} of {rec['found_a']} found by A" if "broken" in rec
              else f"TP {rec['tp']} · FP {rec['fp']} · FN {rec['fn']}")
    return (f"slice {field} = {value} ({rec['class'] or 'all classes'}): {rec['metric']} {rec['in_slice']:.3f} "
            f"in the slice vs {rec['rest']:.3f} elsewhere, {rec['frames']} frames, {counts}")
