"""One evaluation of an inference set, in the JSON shape DESIGN.md fixes.

:func:`evaluation` is what ``aquaembed evaluate --json`` writes and what the service's
``metrics`` endpoint returns (without ``matches`` / ``per_frame`` there). It only
arranges what :mod:`aquaembed.matching` and :mod:`aquaembed.metrics` computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from aquaembed.data import Dataset, Inferences
from aquaembed.matching import Candidates, MatchOptions, MatchTable, build_candidates, match
from aquaembed.metrics import ClassReport, ConfusionMatrix, coco_map, confusion_matrix, frame_report, json_value, pr_curve

__all__ = ["Evaluator", "evaluation", "match_rows"]


@dataclass
class Evaluator:
    """A dataset and one inference set with their candidate pairs, ready to evaluate.

    Candidates are computed once (on construction); :meth:`table` and :meth:`report`
    re-match at any thresholds from them.

    Parameters
    ----------
    dataset : Dataset
    inferences : Inferences
    """

    dataset: Dataset
    inferences: Inferences

    def __post_init__(self) -> None:
        self.candidates: Candidates = build_candidates(self.dataset, self.inferences)

    def table(self, options: MatchOptions | None = None) -> MatchTable:
        """The match table with these options (see :func:`aquaembed.matching.match`)."""
        return match(self.candidates, options)

    def coco(self) -> dict[str, float | None]:
        """COCO bbox mAP (see :func:`aquaembed.metrics.coco_map`)."""
        return coco_map(self.candidates, frame_ids=self.dataset.frames.id)

    def report(
        self,
        options: MatchOptions | None = None,
        *,
        coco: bool = False,
        matches: bool = True,
        per_frame: bool = True,
        pr: bool = False,
    ) -> dict[str, Any]:
        """The evaluation as a JSON-ready dict (undefined ratios are ``None``).

        Parameters
        ----------
        options : MatchOptions, optional
            Matching options (default ``MatchOptions()``).
        coco : bool, default False
            Add the ``coco`` block (the twelve COCOeval numbers).
        matches, per_frame : bool, default True
            Include the ``matches`` rows and the ``per_frame`` block.
        pr : bool, default False
            Add ``pr_curves`` (per class and overall, at the IoU threshold).
        """
        table = self.table(options)
        return evaluation(
            self.dataset, table, coco=self.coco() if coco else None, matches=matches, per_frame=per_frame,
            pr=pr_curve(self.candidates, table.options) if pr else None,
        )


def evaluation(
    dataset: Dataset,
    table: MatchTable,
    *,
    coco: dict[str, float | None] | None = None,
    matches: bool = True,
    per_frame: bool = True,
    pr: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Arrange a match table (and optional COCO numbers) as the ``evaluate`` JSON.

    Parameters
    ----------
    dataset : Dataset
        The dataset the table was matched on (for names and ids).
    table : MatchTable
    coco : dict, optional
        Output of :func:`aquaembed.metrics.coco_map`.
    matches, per_frame : bool
        Include the ``matches`` list / the ``per_frame`` mapping.
    pr : dict, optional
        Output of :func:`aquaembed.metrics.pr_curve`.

    Returns
    -------
    dict
        Keys ``conf_threshold``, ``iou_threshold``, ``classes``, ``confusion_matrix``,
        ``per_class``, ``overall`` and, as asked, ``per_frame``, ``matches``, ``coco``,
        ``pr_curves``.
    """
    cm = ConfusionMatrix(confusion_matrix(table), tuple(dataset.classes.names_with_background), table.options)
    out: dict[str, Any] = {
        "conf_threshold": table.conf,
        "iou_threshold": table.iou_threshold,
        "classes": dataset.classes.names_with_background,
        "confusion_matrix": cm.to_json(),
        "per_class": ClassReport(cm.per_class(), dataset.classes.names).to_json(),
        "overall": cm.overall().to_json(),
    }
    if per_frame:
        out["per_frame"] = frame_report(table, ids=dataset.frames.id).to_json()
    if matches:
        out["matches"] = match_rows(dataset, table)
    if coco is not None:
        out["coco"] = coco
    if pr is not None:
        out["pr_curves"] = {
            "thresholds": pr["thresholds"].tolist(),
            "per_class": {
                name: {
                    "precision": [json_value(v) for v in pr["precision"][:, i].tolist()],
                    "recall": [json_value(v) for v in pr["recall"][:, i].tolist()],
                }
                for i, name in enumerate(dataset.classes.names)
            },
            "overall": {
                "precision": [json_value(v) for v in pr["overall_precision"].tolist()],
                "recall": [json_value(v) for v in pr["overall_recall"].tolist()],
            },
        }
    return out


def match_rows(dataset: Dataset, table: MatchTable, rows: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Rows of the match table as JSON objects (the contract's ``matches`` entries).

    Parameters
    ----------
    dataset : Dataset
    table : MatchTable
    rows : int array, optional
        Which rows, in this order (default: all).
    """
    sel = slice(None) if rows is None else np.asarray(rows, dtype=np.int64)
    names = np.asarray(dataset.classes.names_with_background, dtype=object)
    label = table.label[sel]
    pred = table.pred[sel]
    label_ids = np.where(label >= 0, dataset.labels.id[np.maximum(label, 0)] if len(dataset.labels) else 0, -1)
    cols = zip(
        dataset.frames.id[table.frame[sel]].tolist(),
        [None if lab < 0 else lid for lab, lid in zip(label.tolist(), label_ids.tolist())],
        [None if p < 0 else p for p in pred.tolist()],
        names[table.label_class[sel]].tolist(),
        names[table.pred_class[sel]].tolist(),
        [json_value(v) for v in table.iou[sel].tolist()],
        [json_value(v) for v in table.score[sel].tolist()],
        table.type_names()[sel].tolist(),
    )
    keys = ("image_id", "gt_id", "pred_index", "gt_class", "pred_class", "iou", "score", "type")
    return [dict(zip(keys, vals)) for vals in cols]
