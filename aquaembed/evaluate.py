"""One evaluation of an inference set, in the JSON shape DESIGN.md fixes.

:func:`evaluation` is what ``aquaembed evaluate --json`` writes and what the service's
``metrics`` endpoint returns (without ``matches`` / ``per_frame`` there). It only
arranges what :mod:`aquaembed.matching` and :mod:`aquaembed.metrics` computed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from aquaembed.data import Dataset, Inferences
from aquaembed.matching import Candidates, MatchOptions, MatchTable, build_candidates, match
from aquaembed.metrics import (
    ClassReport,
    ConfusionMatrix,
    FrameReport,
    coco_map,
    confusion_matrix,
    frame_report,
    json_value,
    pr_curve,
)

__all__ = ["Evaluator", "evaluation", "match_rows", "pr_curves_json", "reduced_evaluation"]


@dataclass
class Evaluator:
    """A dataset and one inference set with their candidate pairs, ready to evaluate.

    Candidates are computed once (on construction); :meth:`table` and :meth:`report`
    re-match at any thresholds from them.

    Parameters
    ----------
    dataset : Dataset
    inferences : Inferences
    engine : "local", "ray" or an engine, optional
        Where to run: by default in this process on the whole set. With an engine (or
        ``shards``), the frames are cut into shards that are matched as tasks of the
        engine and reduced exactly (:mod:`aquaembed.engine`): the results are identical.
    shards : int, optional
        Number of frame shards (default: one per ~1M boxes, at least one per CPU of a
        Ray engine).
    progress : callable(done, total), optional
        Called on the driver as shards finish.
    """

    dataset: Dataset
    inferences: Inferences
    engine: Any = None
    shards: int | None = None
    progress: Callable[[int, int], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.engine is None and self.shards is None:
            self.candidates  # noqa: B018 - built once, now, so bad input fails here
        else:
            from aquaembed.engine import get_engine

            self.engine = get_engine(self.engine)

    @property
    def sharded(self) -> bool:
        """Whether work runs per shard on an engine."""
        return self.engine is not None

    @cached_property
    def candidates(self) -> Candidates:
        """Candidate pairs of the whole set (in this process)."""
        return build_candidates(self.dataset, self.inferences)

    @cached_property
    def _shard_list(self) -> list[Any]:
        from aquaembed.engine import split

        n = self.shards
        if n is None:
            n_boxes = len(self.dataset.labels) + len(self.inferences)
            n = max(-(-n_boxes // 1_000_000), int(getattr(self.engine, "cpus", 1)))
        shards = split(self.dataset, self.inferences, shards=n)
        put = getattr(self.engine, "put", None)
        return [put(s) for s in shards] if put is not None else list(shards)

    def _reduced(self, options: MatchOptions | None, *, table: bool, coco: bool, pr: bool) -> Any:
        from aquaembed.engine import evaluate_shards

        return evaluate_shards(
            self.engine, self._shard_list, options or MatchOptions(),
            classes=self.dataset.classes.names_with_background,
            totals=(len(self.dataset.frames), len(self.dataset.labels), len(self.inferences)),
            table=table, coco=coco, pr=pr, progress=self.progress,
        )

    def table(self, options: MatchOptions | None = None) -> MatchTable:
        """The match table with these options (see :func:`aquaembed.matching.match`)."""
        if self.sharded:
            return self._reduced(options, table=True, coco=False, pr=False).table
        return match(self.candidates, options)

    def coco(self) -> dict[str, float | None]:
        """COCO bbox mAP (see :func:`aquaembed.metrics.coco_map`)."""
        if self.sharded:
            return self._reduced(None, table=False, coco=True, pr=False).coco
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
        if self.sharded:
            red = self._reduced(options, table=matches, coco=coco, pr=pr)
            return reduced_evaluation(red, matches=matches, per_frame=per_frame)
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
    return _assemble(
        cm, table.options, (lambda: frame_report(table, ids=dataset.frames.id)) if per_frame else None,
        (lambda: match_rows(dataset, table)) if matches else None, coco, pr,
    )


def reduced_evaluation(reduced: Any, *, matches: bool = True, per_frame: bool = True) -> dict[str, Any]:
    """The ``evaluate`` JSON from the exact reduce of per-shard results.

    Parameters
    ----------
    reduced : aquaembed.engine.Reduced
    matches, per_frame : bool
        Include ``matches`` (needs the reduced table) / ``per_frame``.
    """
    r = reduced
    names = list(r.cm.classes)

    def frames() -> FrameReport:
        return FrameReport(r.frames, r.frame_ids)

    def rows() -> list[dict[str, Any]]:
        return _match_rows(names, r.frame_ids, r.label_ids, r.table)

    return _assemble(r.cm, r.options, frames if per_frame else None, rows if matches else None, r.coco, r.pr)


def _assemble(
    cm: ConfusionMatrix, options: MatchOptions, frames: Callable[[], FrameReport] | None,
    rows: Callable[[], list[dict[str, Any]]] | None, coco: dict[str, float | None] | None,
    pr: dict[str, np.ndarray] | None,
) -> dict[str, Any]:
    names = list(cm.classes)
    out: dict[str, Any] = {
        "conf_threshold": options.conf,
        "iou_threshold": options.iou,
        "classes": names,
        "confusion_matrix": cm.to_json(),
        "per_class": ClassReport(cm.per_class(), tuple(names[:-1])).to_json(),
        "overall": cm.overall().to_json(),
    }
    if frames is not None:
        out["per_frame"] = frames().to_json()
    if rows is not None:
        out["matches"] = rows()
    if coco is not None:
        out["coco"] = coco
    if pr is not None:
        out["pr_curves"] = pr_curves_json(pr, names[:-1])
    return out


def pr_curves_json(pr: dict[str, np.ndarray], class_names: Sequence[str]) -> dict[str, Any]:
    """:func:`aquaembed.metrics.pr_curve`'s result as the ``pr_curves`` JSON block
    (``thresholds``, ``per_class`` by class name, ``overall``; undefined ratios are None)."""
    return {
        "thresholds": pr["thresholds"].tolist(),
        "per_class": {
            name: {
                "precision": [json_value(v) for v in pr["precision"][:, i].tolist()],
                "recall": [json_value(v) for v in pr["recall"][:, i].tolist()],
            }
            for i, name in enumerate(class_names)
        },
        "overall": {
            "precision": [json_value(v) for v in pr["overall_precision"].tolist()],
            "recall": [json_value(v) for v in pr["overall_recall"].tolist()],
        },
    }


def match_rows(dataset: Dataset, table: MatchTable, rows: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Rows of the match table as JSON objects (the contract's ``matches`` entries).

    Parameters
    ----------
    dataset : Dataset
    table : MatchTable
    rows : int array, optional
        Which rows, in this order (default: all).
    """
    return _match_rows(dataset.classes.names_with_background, dataset.frames.id, dataset.labels.id, table, rows)


def _match_rows(
    names: Sequence[str], frame_ids: np.ndarray, label_ids_by_row: np.ndarray, table: MatchTable,
    rows: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    sel = slice(None) if rows is None else np.asarray(rows, dtype=np.int64)
    names_arr = np.asarray(list(names), dtype=object)
    label = table.label[sel]
    pred = table.pred[sel]
    label_ids = np.where(label >= 0, label_ids_by_row[np.maximum(label, 0)] if len(label_ids_by_row) else 0, -1)
    cols = zip(
        frame_ids[table.frame[sel]].tolist(),
        [None if lab < 0 else lid for lab, lid in zip(label.tolist(), label_ids.tolist())],
        [None if p < 0 else p for p in pred.tolist()],
        names_arr[table.label_class[sel]].tolist(),
        names_arr[table.pred_class[sel]].tolist(),
        [json_value(v) for v in table.iou[sel].tolist()],
        [json_value(v) for v in table.score[sel].tolist()],
        table.type_names()[sel].tolist(),
    )
    keys = ("image_id", "gt_id", "pred_index", "gt_class", "pred_class", "iou", "score", "type")
    return [dict(zip(keys, vals)) for vals in cols]
