"""The rows behind a confusion cell (a part of :class:`DatasetView`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from aquaembed.errors import ParameterError
from aquaembed.evaluate import match_rows
from aquaembed.explore.base import ViewBase
from aquaembed.explore.paging import check_page, sort_order
from aquaembed.geometry import box_area, xyxy_to_xywh
from aquaembed.matching import TYPE_NAMES, MatchOptions
from aquaembed.metrics import json_value

__all__ = ["MatchesPart", "MATCH_SORT_KEYS"]

MATCH_SORT_KEYS = ("score", "iou", "area", "aspect")
"""Keys the rows of a confusion cell sort by."""


class MatchesPart(ViewBase):
    """Rows of the match table, filtered to a cell or type, sorted and paged."""

    if TYPE_CHECKING:  # provided by CustomPart in the assembled DatasetView

        def frame_restriction(self, scenario: str | None = None,
                              frames: Sequence[int] | np.ndarray | None = None) -> np.ndarray | None: ...

    def matches(
        self,
        model: str | None = None,
        *,
        options: MatchOptions | None = None,
        gt_class: str | None = None,
        pred_class: str | None = None,
        type: str | None = None,
        sort: str = "score",
        order: str = "desc",
        limit: int = 50,
        offset: int = 0,
        scenario: str | None = None,
        frames: Sequence[int] | np.ndarray | None = None,
    ) -> dict[str, Any]:
        """The rows of one confusion cell (or any slice of the match table), sorted and paged.

        Parameters
        ----------
        gt_class, pred_class : str, optional
            Class names; ``"background"`` selects unmatched inferences / labels.
        type : {"TP", "FP", "FN", "confusion", "ignored"}, optional
        sort : {"score", "iou", "area", "aspect"}
            ``area`` and ``aspect`` (width / height) are those of the label's box, or of
            the inference's box when the row has no label. Undefined values sort last.
        order : {"asc", "desc"}
        scenario : str, optional
            Only the rows of this scenario's frames.
        frames : array of int, shape (n,), optional
            Only the rows of these frame ids (with ``scenario``: of both).

        Returns
        -------
        dict with ``total`` and ``rows`` (contract ``matches`` entries plus the boxes
        ``gt_box``/``pred_box`` as ``[x1, y1, x2, y2]``, ``area`` and ``aspect``)
        """
        check_page(limit, offset, order)
        if sort not in MATCH_SORT_KEYS:
            raise ParameterError(f"sort must be one of {', '.join(MATCH_SORT_KEYS)}, got {sort!r}")
        ds = self.dataset
        table = self.table(model, options)
        keep = np.ones(len(table), dtype=bool)
        if gt_class is not None:
            keep &= table.label_class == ds.classes.index_of_name(gt_class)
        if pred_class is not None:
            keep &= table.pred_class == ds.classes.index_of_name(pred_class)
        if type is not None:
            if type not in TYPE_NAMES:
                raise ParameterError(f"type must be one of {', '.join(TYPE_NAMES)}, got {type!r}")
            keep &= table.type == TYPE_NAMES.index(type)
        mask = self.frame_restriction(scenario, frames)
        if mask is not None:
            keep &= mask[table.frame]
        rows = np.flatnonzero(keep)
        inf = ds.inference_set(self.model(model))
        box = self._row_boxes(table, rows, inf.box)
        w, h = xyxy_to_xywh(box)[:, 2:].T
        with np.errstate(divide="ignore", invalid="ignore"):
            aspect = np.where(h > 0, w / np.where(h > 0, h, 1), np.nan)
        area = box_area(box)
        key = {"score": table.score[rows], "iou": table.iou[rows], "area": area, "aspect": aspect}[sort]
        sel = sort_order(key, order, tiebreak=rows)
        page_pos = sel[offset : offset + limit]
        page = rows[page_pos]
        out = match_rows(ds, table, page)
        lab, prd = table.label[page], table.pred[page]
        for rec, li, pi, a, asp in zip(out, lab.tolist(), prd.tolist(), area[page_pos].tolist(), aspect[page_pos].tolist()):
            rec["gt_box"] = ds.labels.box[li].tolist() if li >= 0 else None
            rec["pred_box"] = inf.box[pi].tolist() if pi >= 0 else None
            rec["area"] = a
            rec["aspect"] = json_value(asp)
        return {"total": int(rows.size), "rows": out}
