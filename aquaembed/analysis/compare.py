"""Comparison of two inference sets on one dataset: what B fixed, what it broke, and where.

Everything here is a pure function of the two match tables (one matcher, the same
options for both).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aquaembed.data import Dataset
from aquaembed.errors import ParameterError
from aquaembed.matching import IGNORED, TP, MatchTable
from aquaembed.metrics import FrameMatrices, json_value, label_types

__all__ = ["TRANSITIONS", "label_transitions", "compare_tables", "frame_delta"]

TRANSITIONS: tuple[str, ...] = ("fixed", "broken", "both_found", "both_missed")
"""Transition codes 0..3 of a label from A to B (-1: ignored, a crowd region)."""


def label_transitions(table_a: MatchTable, table_b: MatchTable) -> np.ndarray:
    """Transition of every label from A to B.

    Returns
    -------
    int8 array, shape (L,)
        0 fixed (not TP under A, TP under B), 1 broken (TP under A, not under B),
        2 both found, 3 both missed (a confusion counts as not found), -1 ignored.
    """
    if table_a.n_labels != table_b.n_labels or table_a.options != table_b.options:
        raise ParameterError("compare: both tables must be of one dataset, matched with the same options")
    ta, _ = label_types(table_a)
    tb, _ = label_types(table_b)
    a, b = ta == TP, tb == TP
    out = np.where(a, np.where(b, 2, 1), np.where(b, 0, 3)).astype(np.int8)
    out[(ta == IGNORED) | (tb == IGNORED)] = -1
    return out


def frame_delta(table_a: MatchTable, table_b: MatchTable) -> dict[str, np.ndarray]:
    """Per-frame F1 of A and B and ``delta_f1 = f1_b - f1_a`` (NaN when either is undefined), shape (F,)."""
    fa = FrameMatrices.from_table(table_a).per_frame().f1
    fb = FrameMatrices.from_table(table_b).per_frame().f1
    return {"f1_a": fa, "f1_b": fb, "delta_f1": fb - fa}


def compare_tables(dataset: Dataset, table_a: MatchTable, table_b: MatchTable, models: tuple[str, str]) -> dict[str, Any]:
    """The ``compare`` JSON of two match tables of ``dataset``.

    Returns
    -------
    dict
        ``models``, ``options``, ``overall`` (keyed by model), ``confusion_matrix_diff``
        (B minus A, rows = label class, columns = inference class, background last),
        ``labels`` (``fixed`` / ``broken`` annotation ids and the four counts) and
        ``frames`` (``f1_a``, ``f1_b``, ``delta_f1`` per image id; undefined is null).
    """
    a_name, b_name = models
    ma, mb = FrameMatrices.from_table(table_a), FrameMatrices.from_table(table_b)
    trans = label_transitions(table_a, table_b)
    ids = dataset.labels.id
    deltas = frame_delta(table_a, table_b)
    frame_ids = dataset.frames.id.tolist()
    cols = [deltas[k].tolist() for k in ("f1_a", "f1_b", "delta_f1")]
    return {
        "models": [a_name, b_name],
        "options": table_a.options.to_json(),
        "classes": list(dataset.classes.names_with_background),
        "overall": {a_name: ma.overall().to_json(), b_name: mb.overall().to_json()},
        "confusion_matrix_diff": (mb.confusion() - ma.confusion()).tolist(),
        "labels": {
            "fixed": ids[trans == 0].tolist(),
            "broken": ids[trans == 1].tolist(),
            "counts": {name: int((trans == code).sum()) for code, name in enumerate(TRANSITIONS)},
        },
        "frames": {
            str(fid): {"f1_a": json_value(fa), "f1_b": json_value(fb), "delta_f1": json_value(d)}
            for fid, fa, fb, d in zip(frame_ids, *cols)
        },
    }
