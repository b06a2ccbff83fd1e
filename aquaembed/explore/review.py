"""Label issues and their review (a part of :class:`DatasetView`).

Scores come from :mod:`aquaembed.analysis.label_issues` (computed once per inference set:
they do not depend on the matching options); verdicts live in the dataset through
:class:`aquaembed.review.ReviewLog`.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import numpy as np

from aquaembed.analysis.label_issues import (
    ISSUE_KINDS,
    LabelIssueScores,
    Neighbours,
    crop_neighbours,
    issue_records,
    score_label_issues,
)
from aquaembed.artifacts import CROP_INDEX, CROP_TABLE
from aquaembed.data import Dataset
from aquaembed.errors import AquaembedError, NotFoundError, ParameterError
from aquaembed.explore.base import ViewBase
from aquaembed.explore.paging import check_page
from aquaembed.review import VERDICTS, ReviewLog, Verdict, apply_fixes, issue_key

__all__ = ["REVIEW_STATUSES", "ReviewPart"]

REVIEW_STATUSES = ("open", "accept", "reject", "skip", "any")
"""Review states an issue list filters by (``open``: no verdict, or skipped)."""

_KNN_K = 10


class ReviewPart(ViewBase):
    """Ranked label issues, verdicts, and the corrected ground truth."""

    # ------------------------------------------------------------------ scores

    def label_neighbours(self, model: str | None = None) -> Neighbours | None:
        """Label-crop kNN of the label crops and the inference crops (None without crop embeddings)."""
        model = self.model(model)
        if CROP_INDEX not in self.stored.artifact_names or CROP_TABLE not in self.stored.artifact_names:
            return None

        def compute() -> Neighbours:
            # computed once and kept in the store next to the crop index it came from
            name = "label-knn-" + hashlib.sha256(model.encode()).hexdigest()[:16]
            inputs = {
                "index": (self.stored.artifact_info(CROP_INDEX) or {}).get("sha256"),
                "labels": str(self.stored.manifest.tables.get("labels")),
                "inferences": str(self.stored.manifest.inferences.get(model)),
                "model": model, "k": _KNN_K,
            }
            ds = self.dataset
            n_l = len(ds.labels)
            if self.stored.has_artifact(name, inputs=inputs):
                arr = np.asarray(self.stored.load_array(name, mmap=False))
                cls, sim = arr[:, :_KNN_K].astype(np.int64), arr[:, _KNN_K:].astype(np.float32)
                return Neighbours(cls[:n_l], sim[:n_l], cls[n_l:], sim[n_l:])
            table, sources = self.crop_table()  # type: ignore[attr-defined]
            nb = crop_neighbours(self.index("crop"), table, sources, ds, ds.inference_set(model), model, k=_KNN_K)  # type: ignore[attr-defined]
            packed = np.hstack([np.vstack([nb.label_cls, nb.pred_cls]).astype(np.float32), np.vstack([nb.label_sim, nb.pred_sim])])
            with contextlib.suppress(AquaembedError, OSError):  # a read-only store still answers, just slower next time
                self.stored.save_array(name, packed, inputs=inputs, replace=True)
            return nb

        return self._once(f"label-knn:{model}", compute)

    def label_issue_scores(self, model: str | None = None, *, use_embeddings: bool = True) -> LabelIssueScores:
        """Scores of every label and inference for every kind (cached per inference set)."""
        model = self.model(model)

        def compute() -> LabelIssueScores:
            ds = self.dataset
            nb = self.label_neighbours(model) if use_embeddings else None
            return score_label_issues(ds, ds.inference_set(model), self.evaluator(model).candidates, neighbours=nb)

        return self._once(f"label-issues:{model}:{use_embeddings}", compute)

    def label_issue_records(self, model: str | None = None, *, min_score: float = 0.2, use_embeddings: bool = True) -> list[dict[str, Any]]:
        """Every issue scoring at least ``min_score``, most likely error first (cached)."""
        model = self.model(model)
        if not 0.0 <= float(min_score) <= 1.0:
            raise ParameterError(f"min_score must lie in [0, 1], got {min_score!r}", parameter="min_score")

        def compute() -> list[dict[str, Any]]:
            ds = self.dataset
            return issue_records(ds, ds.inference_set(model), self.label_issue_scores(model, use_embeddings=use_embeddings), min_score=min_score)

        return self._once(f"label-issue-records:{model}:{use_embeddings}:{float(min_score)}", compute)

    # ------------------------------------------------------------------ queue

    def reviews(self) -> ReviewLog:
        """The dataset's review log."""
        return ReviewLog(self.stored)

    def label_issues(
        self,
        model: str | None = None,
        *,
        kind: str | None = None,
        cls: str | None = None,
        status: str = "any",
        limit: int = 50,
        offset: int = 0,
        min_score: float = 0.2,
    ) -> dict[str, Any]:
        """The ranked issues, filtered and paged, each with its latest verdict.

        Parameters
        ----------
        kind : str, optional
            One of :data:`~aquaembed.analysis.label_issues.ISSUE_KINDS`.
        cls : str, optional
            Keep issues whose label class or suggested class is ``cls``.
        status : {"open", "accept", "reject", "skip", "any"}
            ``open`` keeps issues with no verdict (or only ``skip``).

        Returns
        -------
        dict with ``model``, ``total``, ``offset``, ``issues`` (records with ``key``,
        ``label_class`` and ``verdict``/``new_class``, null when unreviewed) and ``counts``
        (``reviewed``, ``accepted``, ``rejected``, ``skipped``, ``issues``).
        """
        model = self.model(model)
        check_page(limit, offset, "desc")
        if kind is not None and kind not in ISSUE_KINDS:
            raise ParameterError(f"kind must be one of {', '.join(ISSUE_KINDS)}, got {kind!r}", parameter="kind")
        if status not in REVIEW_STATUSES:
            raise ParameterError(f"status must be one of {', '.join(REVIEW_STATUSES)}, got {status!r}", parameter="status")
        ds = self.dataset
        if cls is not None:
            ds.classes.index_of_name(cls)  # NotFoundError for an unknown class
        records = self.label_issue_records(model, min_score=min_score)
        label_cls = self._label_class_names()
        latest = self.reviews().latest(model)
        out = []
        for rec in records:
            if kind is not None and rec["kind"] != kind:
                continue
            lc = label_cls.get(rec["label_id"]) if rec["label_id"] is not None else None
            if cls is not None and cls not in (lc, rec["suggested_class"]):
                continue
            key = issue_key(model, rec["kind"], rec["label_id"], rec["pred_index"])
            v = latest.get(key)
            verdict = v["verdict"] if v else None
            if status == "open" and verdict not in (None, "skip"):
                continue
            if status in VERDICTS and verdict != status:
                continue
            out.append({**rec, "key": key, "label_class": lc, "verdict": verdict, "new_class": v.get("new_class") if v else None})
        counts = self.reviews().counts(model)
        counts["issues"] = len(records)
        return {"model": model, "total": len(out), "offset": offset, "issues": out[offset : offset + limit], "counts": counts}

    def _label_class_names(self) -> dict[int, str]:
        def compute() -> dict[int, str]:
            ds = self.dataset
            names = np.asarray(ds.classes.names, dtype=object)
            return dict(zip(ds.labels.id.tolist(), names[ds.labels.cls].tolist()))

        return self._once("label-class-names", compute)

    def label_issue(self, model: str | None, key: str) -> dict[str, Any]:
        """One issue by its key (as :meth:`label_issues` gives it)."""
        model = self.model(model)
        for rec in self.label_issue_records(model):
            if issue_key(model, rec["kind"], rec["label_id"], rec["pred_index"]) == key:
                return rec
        raise NotFoundError(f"dataset {self.name!r} has no label issue {key!r}")

    def record_verdict(self, model: str | None, key: str, verdict: str, *, new_class: str | None = None) -> dict[str, Any]:
        """Store a verdict on the issue ``key``; returns the stored record."""
        model = self.model(model)
        if new_class is not None:
            self.dataset.classes.index_of_name(new_class)
        issue = self.label_issue(model, key)
        return self.reviews().record(Verdict(model, issue, verdict, new_class))  # type: ignore[arg-type]

    def fixed_dataset(self, model: str | None = None) -> tuple[Dataset, list[dict[str, Any]]]:
        """The ground truth with every accepted fix of ``model``'s issues applied, and the fix rows."""
        model = self.model(model)
        accepted = [r for r in self.reviews().latest(model).values() if r["verdict"] == "accept"]
        ds = self.dataset
        return apply_fixes(ds, ds.inference_set(model), accepted)
