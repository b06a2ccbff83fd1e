"""Label issues as report records (the ``label_issues`` section of ``aquaembed report``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from aquaembed.analysis.label_issues.scores import (
    ISSUE_KINDS,
    LABEL_KINDS,
    LabelIssueScores,
)
from aquaembed.data import Dataset, Inferences
from aquaembed.geometry import xyxy_to_xywh

__all__ = ["REPORT_MIN_SCORE", "issue_count", "issue_records", "label_issues_section"]


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def issue_records(
    dataset: Dataset,
    inferences: Inferences,
    scores: LabelIssueScores,
    *,
    min_score: float = 0.2,
    kinds: tuple[str, ...] = ISSUE_KINDS,
    best_kind_only: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The issues as report records, most likely error first (only the first ``limit``).

    A label appears under every kind it scores at least ``min_score`` for (with
    ``best_kind_only``, once, under its highest-scoring kind); an inference under
    ``missing_label``. Ties keep kind order, then frame, label and inference order.

    Returns
    -------
    list of dict
        ``kind``, ``label_id``, ``pred_index``, ``frame`` (frame id), ``suggested_class``,
        ``suggested_box`` (``[x, y, w, h]``), ``score``, ``reason`` (and, for a duplicate,
        ``duplicate_of`` with the other label's id).
    """
    labels, names = dataset.labels, dataset.classes.names
    frame_ids = dataset.frames.id
    stack, rows, cols, hit = _candidates(scores, len(labels), min_score, kinds, best_kind_only)
    if limit is not None:
        keep_l, keep_m = _first(dataset, inferences, scores, stack, rows, cols, hit, limit)
        rows, cols, hit = rows[keep_l], cols[keep_l], hit[keep_m]
    out: list[dict[str, Any]] = []
    for row, col in zip(rows.tolist(), cols.tolist()):
        kind = LABEL_KINDS[col]
        cls = names[int(labels.cls[row])]
        rec: dict[str, Any] = {
            "kind": kind, "label_id": int(labels.id[row]), "pred_index": None,
            "frame": int(frame_ids[labels.frame[row]]), "suggested_class": None, "suggested_box": None,
            "score": round(float(stack[row, col]), 4),
        }
        if kind == "wrong_class":
            sc = names[int(scores.suggested_class[row])]
            p = int(scores.wrong_class_pred[row])
            rec["suggested_class"] = sc
            if p >= 0 and int(inferences.cls[p]) == int(scores.suggested_class[row]):
                rec["pred_index"] = p
                rec["reason"] = f"labelled {cls}; the model sees a {sc} here (confidence {_fmt(inferences.score[p])})"
            else:
                rec["reason"] = f"labelled {cls}; its nearest label crops are mostly {sc}"
        elif kind == "bad_location":
            p = int(scores.suggested_pred[row])
            rec["pred_index"] = p
            rec["suggested_box"] = [round(v, 2) for v in xyxy_to_xywh(inferences.box[p][None])[0].tolist()]
            rec["reason"] = (
                f"a {cls} inference (confidence {_fmt(inferences.score[p])}) overlaps it at IoU "
                f"{_fmt(scores.best_iou[row])}; the model usually reaches {_fmt(scores.typical_iou[row])} on boxes this size"
            )
        elif kind == "duplicate_label":
            other = int(scores.duplicate_of[row])
            rec["duplicate_of"] = int(labels.id[other])
            rec["reason"] = f"overlaps label {int(labels.id[other])} ({names[int(labels.cls[other])]}) of the same frame"
        else:
            rec["reason"] = f"no inference of any class or confidence covers this {cls} label, and its neighbours disagree"
        out.append(rec)
    if "missing_label" in kinds:
        for p in hit.tolist():
            cls = names[int(inferences.cls[p])]
            out.append({
                "kind": "missing_label", "label_id": None, "pred_index": int(p),
                "frame": int(frame_ids[inferences.frame[p]]), "suggested_class": cls,
                "suggested_box": [round(v, 2) for v in xyxy_to_xywh(inferences.box[p][None])[0].tolist()],
                "score": round(float(scores.missing[p]), 4),
                "reason": f"a {cls} inference (confidence {_fmt(inferences.score[p])}) overlaps no label",
            })
    out.sort(key=lambda r: (-r["score"], ISSUE_KINDS.index(r["kind"]), r["frame"],
                            r["label_id"] if r["label_id"] is not None else -1,
                            r["pred_index"] if r["pred_index"] is not None else -1))
    return out if limit is None else out[:limit]


def _candidates(scores: LabelIssueScores, n_labels: int, min_score: float, kinds: tuple[str, ...],
                best_kind_only: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The label scores by kind ``(L, 4)`` (kinds left out at -1), the (label row, kind column)
    entries and the inference rows scoring at least ``min_score``."""
    stack = np.stack([scores.label[k] for k in LABEL_KINDS], axis=1) if n_labels else np.zeros((0, 4))
    allowed = np.array([k in kinds for k in LABEL_KINDS])
    stack = np.where(allowed[None, :], stack, -1.0)
    if best_kind_only and n_labels:
        best_kind = np.argmax(stack, axis=1)
        stack = np.where(np.arange(len(LABEL_KINDS))[None, :] == best_kind[:, None], stack, -1.0)
    rows, cols = np.nonzero((stack >= min_score) & (stack > 0))
    hit = np.flatnonzero((scores.missing >= min_score) & (scores.missing > 0)) if "missing_label" in kinds else np.zeros(0, np.int64)
    return stack, rows, cols, hit


def issue_count(scores: LabelIssueScores, n_labels: int, *, min_score: float = 0.2) -> int:
    """How many records :func:`issue_records` gives at ``min_score`` (every kind)."""
    _, rows, _, hit = _candidates(scores, n_labels, min_score, ISSUE_KINDS, False)
    return int(rows.size + hit.size)


def _first(dataset: Dataset, inferences: Inferences, scores: LabelIssueScores, stack: np.ndarray, rows: np.ndarray,
           cols: np.ndarray, hit: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Which label entries (of ``rows, cols``) and inference entries (of ``hit``) are among the
    first ``limit`` records, by the records' own sort key, computed on arrays (so a dataset
    with a million candidate issues builds only ``limit`` records)."""
    # the key of issue_records' sort: (-score rounded as the record has it, kind, frame, label id, inference)
    lab_score = np.array([round(v, 4) for v in stack[rows, cols].tolist()], dtype=np.float64)
    inf_score = np.array([round(v, 4) for v in scores.missing[hit].tolist()], dtype=np.float64)
    kind_of = np.array([ISSUE_KINDS.index(k) for k in LABEL_KINDS], dtype=np.int64)
    frame_ids = dataset.frames.id
    wc = np.asarray(scores.wrong_class_pred)[rows]
    sugg = np.asarray(scores.suggested_class)[rows]
    wc_ok = (wc >= 0) & (np.asarray(inferences.cls)[np.maximum(wc, 0)] == sugg)
    pred = np.full(rows.size, -1, dtype=np.int64)
    kind_names = np.asarray(LABEL_KINDS, dtype=object)[cols]
    pred = np.where((kind_names == "wrong_class") & wc_ok, wc, pred)
    pred = np.where(kind_names == "bad_location", np.asarray(scores.suggested_pred)[rows], pred)
    key_score = np.concatenate([-lab_score, -inf_score])
    key_kind = np.concatenate([kind_of[cols], np.full(hit.size, ISSUE_KINDS.index("missing_label"), np.int64)])
    key_frame = np.concatenate([frame_ids[dataset.labels.frame[rows]], frame_ids[inferences.frame[hit]]])
    key_label = np.concatenate([dataset.labels.id[rows], np.full(hit.size, -1, np.int64)])
    key_pred = np.concatenate([pred, hit.astype(np.int64)])
    order = np.lexsort((key_pred, key_label, key_frame, key_kind, key_score))[: max(int(limit), 0)]
    first = np.zeros(rows.size + hit.size, dtype=bool)
    first[order] = True
    return np.flatnonzero(first[: rows.size]), np.flatnonzero(first[rows.size :])


REPORT_MIN_SCORE = 0.1
"""Default ``min_score`` of the report's ``label_issues`` section."""


def label_issues_section(
    view: Any,
    model: str | None = None,
    *,
    min_score: float = REPORT_MIN_SCORE,
    limit: int | None = None,
    use_embeddings: bool = True,
) -> list[dict[str, Any]]:
    """The ``label_issues`` section of ``aquaembed report``: one list, most likely error first.

    Parameters
    ----------
    view : DatasetView
        The stored dataset (its candidates, and its crop index when it has one).
    model : str, optional
        Inference set (default: the only one).
    min_score : float
        Leave out issues scoring below this.
    limit : int, optional
        Keep only the first ``limit`` issues.
    use_embeddings : bool
        Use the kNN label consensus when the dataset has crop embeddings.

    Returns
    -------
    list of dict
        ``{"kind", "label_id", "pred_index", "frame", "suggested_class", "suggested_box",
        "score", "reason"}`` (plus ``duplicate_of`` for a duplicate).
    """
    if limit is None:
        records = view.label_issue_records(model, min_score=min_score, use_embeddings=use_embeddings)
        return [dict(r) for r in records]
    model = view.model(model)
    ds = view.dataset
    scores = view.label_issue_scores(model, use_embeddings=use_embeddings)
    return issue_records(ds, ds.inference_set(model), scores, min_score=min_score, limit=limit)
