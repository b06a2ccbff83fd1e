"""Two inference sets on one map (a part of :class:`~aquaembed.explore.DatasetView`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from aquaembed.analysis.clusters import cluster_rows, describe_clusters
from aquaembed.analysis.compare import TRANSITIONS, compare_tables, frame_delta, label_transitions
from aquaembed.analysis.regression import BOTH_FOUND, BROKEN, regression_departures
from aquaembed.errors import ParameterError
from aquaembed.explore.embeddings import EmbeddingsPart
from aquaembed.matching import FP, MatchOptions
from aquaembed.metrics import json_value

__all__ = ["ComparePart"]


class ComparePart(EmbeddingsPart):
    """Comparison of inference sets A and B: the JSON, the map fields, the changed pairs."""

    if TYPE_CHECKING:  # provided by CustomPart in the assembled DatasetView
        from aquaembed.metrics import FrameMatrices

        def frame_matrices(self, model: str | None = None, options: MatchOptions | None = None,
                           metric: str | None = None) -> FrameMatrices: ...

        def scenario_mask(self, scenario: str | None) -> np.ndarray | None: ...

        # provided by ReportPart
        from aquaembed.analysis.clusters import CropGraph
        from aquaembed.analysis.slices import SliceSet

        def crop_graph(self) -> CropGraph: ...

        def _crop_rows(self, model: str) -> tuple[np.ndarray, np.ndarray]: ...

        def slice_set(self, *, pairs: bool = True, regions: bool = True) -> SliceSet: ...


    def _pair(self, a: str, b: str) -> tuple[str, str]:
        a, b = self.model(a), self.model(b)
        if a == b:
            raise ParameterError(f"models: compare two different inference sets, got {a!r} twice", parameter="models")
        return a, b

    def compare(self, a: str, b: str, options: MatchOptions | None = None, *, scenario: str | None = None) -> dict[str, Any]:
        """The ``compare`` JSON (see :func:`aquaembed.analysis.compare.compare_tables`)."""
        a, b = self._pair(a, b)
        options = MatchOptions() if options is None else options
        out = self._derived.get(("compare", a, b, options),
                                lambda: compare_tables(self.dataset, self.table(a, options), self.table(b, options), (a, b)))
        if scenario is None:
            return out
        mask = self.scenario_mask(scenario)
        if mask is None:  # cannot happen for a named scenario; narrows the type
            return out
        keep_ids = set(self.dataset.frames.id[mask].tolist())
        fa = self.frame_matrices(a, options).restrict(mask)
        fb = self.frame_matrices(b, options).restrict(mask)
        trans = label_transitions(self.table(a, options), self.table(b, options))
        trans = np.where(mask[self.dataset.labels.frame], trans, -1)
        ids = self.dataset.labels.id
        return {
            **out,
            "scenario": scenario,
            "overall": {a: fa.overall().to_json(), b: fb.overall().to_json()},
            "confusion_matrix_diff": (fb.confusion() - fa.confusion()).tolist(),
            "labels": {
                "fixed": ids[trans == 0].tolist(), "broken": ids[trans == 1].tolist(),
                "counts": {name: int((trans == code).sum()) for code, name in enumerate(TRANSITIONS)},
            },
            "frames": {k: v for k, v in out["frames"].items() if int(k) in keep_ids},
        }

    def transitions(self, a: str, b: str, options: MatchOptions | None = None) -> np.ndarray:
        """Transition code (into ``TRANSITIONS``) of every label row from A to B, int8 (L,)."""
        a, b = self._pair(a, b)
        options = MatchOptions() if options is None else options
        return self._derived.get(("transitions", a, b, options),
                                 lambda: label_transitions(self.table(a, options), self.table(b, options)))

    def regression_clusters(
        self, a: str, b: str, options: MatchOptions | None = None, *, min_cluster_size: int = 8, alpha: float = 1e-3,
        scenario: str | None = None,
    ) -> list[dict[str, Any]]:
        """Clusters of the label crops B broke (TP under A, not under B), ranked, ids 0...

        The FN clusters' method (:func:`~aquaembed.analysis.clusters.cluster_rows` on the
        stored crop kNN graph; the population that could be broken, and so the chance level's
        denominator, is the label crops A found, of the scenario's frames); records follow
        the report's ``clusters`` contract with ``type: "broken"`` and ``pairs`` naming
        the label class and the class B gave (``background``: missed). With a
        ``scenario``, only the broken labels of its frames.
        """
        from aquaembed.artifacts import CROP_INDEX

        a, b = self._pair(a, b)
        options = MatchOptions() if options is None else options
        if CROP_INDEX not in self.stored.artifact_names:
            return []
        mask = self.scenario_mask(scenario)
        key = None if mask is None else np.packbits(mask).tobytes()
        return self._derived.get(("regression-clusters", a, b, options, min_cluster_size, alpha, key),
                                 lambda: self._regression_clusters(a, b, options, min_cluster_size, alpha, mask))

    def _regression_clusters(self, a: str, b: str, options: MatchOptions, min_size: int, alpha: float,
                             mask: np.ndarray | None) -> list[dict[str, Any]]:
        from aquaembed.metrics import label_types

        ds = self.dataset
        graph = self.crop_graph()
        _, label_rows = self._crop_rows(a)
        trans = self.transitions(a, b, options)
        broken = (trans == BROKEN) & (label_rows >= 0)
        if mask is not None:
            broken &= mask[ds.labels.frame]
        sel = np.flatnonzero(broken)
        if sel.size == 0:
            return []
        rows = label_rows[sel]
        found_a = ((trans == BROKEN) | (trans == BOTH_FOUND)) & (label_rows >= 0)
        if mask is not None:
            found_a &= mask[ds.labels.frame]
        population = np.zeros(graph.neighbors.shape[0], dtype=bool)
        population[label_rows[found_a]] = True
        eps = self._once("knn-eps", graph.distance_scale)
        labels = cluster_rows(graph, rows, population=population, min_cluster_size=min_size, alpha=alpha, eps=eps)
        if not (labels >= 0).any():
            return []
        index = self.index("crop")
        keep = labels >= 0
        vectors = np.zeros((rows.size, index.dim), np.float32)
        vectors[keep] = index.vectors(rows[keep])
        _, other_b = label_types(self.table(b, options))
        ref = label_rows >= 0
        out = describe_clusters(
            "broken", labels, rows, vectors=vectors, source="label", ids=ds.labels.id[sel], cls=ds.labels.cls[sel],
            frame_rows=ds.labels.frame[sel], score=None, ref_frame_rows=ds.labels.frame[ref], ref_cls=ds.labels.cls[ref],
            class_names=list(ds.classes.names_with_background), frame_ids=ds.frames.id, metadata=ds.frames.metadata,
            n_errors=int(rows.size), other_cls=other_b[sel],
        )
        out.sort(key=lambda r: -r["score"])
        return [{"id": i, **r} for i, r in enumerate(out)]

    def regression_slices(
        self, a: str, b: str, options: MatchOptions | None = None, *, alpha: float = 0.05, limit: int | None = None,
        scenario: str | None = None,
    ) -> dict[str, Any]:
        """Slices where the share of A's found labels that B broke departs from the rest
        (:mod:`aquaembed.analysis.regression`): ``{"tested", "slices"}``, ranked: the
        ``"worse"`` slices (where B regressed) first, then the ``"better"`` ones. With a
        ``scenario``, within its frames."""
        a, b = self._pair(a, b)
        options = MatchOptions() if options is None else options
        ds = self.dataset
        trans = self.transitions(a, b, options)
        slices = self.slice_set()
        mask = self.scenario_mask(scenario)

        def compute() -> dict[str, Any]:
            out = regression_departures(trans, ds.labels.frame, ds.labels.cls, slices, list(ds.classes.names),
                                        frame_ids=ds.frames.id, alpha=alpha, frames=mask)
            ranked = sorted(out["slices"], key=lambda s: s["direction"] != "worse")  # stable: keeps the rank within
            return {**out, "slices": ranked if limit is None else ranked[:limit]}

        key = None if mask is None else np.packbits(mask).tobytes()
        return self._derived.get(("regression-slices", a, b, options, alpha, limit, key), compute)

    def regression(self, a: str, b: str, options: MatchOptions | None = None, *, alpha: float = 0.05,
                   scenario: str | None = None) -> dict[str, Any]:
        """Where B regressed: ``{"models", "options", "labels" (transition counts), "clusters",
        "tested", "slices"}`` (within a ``scenario``'s frames when given, plus ``scenario``)."""
        a, b = self._pair(a, b)
        options = MatchOptions() if options is None else options
        trans = self.transitions(a, b, options)
        mask = self.scenario_mask(scenario)
        if mask is not None:
            trans = np.where(mask[self.dataset.labels.frame], trans, -1)
        sl = self.regression_slices(a, b, options, alpha=alpha, scenario=scenario)
        out = {
            "models": [a, b], "options": options.to_json(),
            "labels": {name: int((trans == code).sum()) for code, name in enumerate(TRANSITIONS)},
            "clusters": self.regression_clusters(a, b, options, scenario=scenario), "tested": sl["tested"],
            "slices": sl["slices"],
        }
        return out if scenario is None else {**out, "scenario": scenario}

    def compare_projection(self, kind: str, a: str, b: str, options: MatchOptions | None = None) -> dict[str, Any]:
        """Projection fields for the comparison map.

        ``kind="frame"``: the frame projection with ``f1_a``, ``f1_b`` and ``delta_f1``.
        ``kind="crop"``: label crops with ``transition`` (code into ``TRANSITIONS``, -1
        ignored) and the inference crops of both models, ``model`` naming which (the
        label crops' ``model`` is ``""``).
        """
        a, b = self._pair(a, b)
        options = MatchOptions() if options is None else options
        if kind == "frame":
            proj = self.projection("frame", a, options)
            rows = self.dataset.frames.index_of_ids(proj["ids"])
            d = frame_delta(self.table(a, options), self.table(b, options))
            return {"kind": "frame", "ids": proj["ids"], "x": proj["x"], "y": proj["y"],
                    **{k: v[rows] for k, v in d.items()}, "metadata": proj["metadata"]}
        if kind != "crop":
            raise ParameterError(f"kind must be 'frame' or 'crop', got {kind!r}", parameter="kind")
        pa = self.projection("crop", a, options)
        pb = self.projection("crop", b, options)
        trans = label_transitions(self.table(a, options), self.table(b, options))
        lab = pa["source"] == 0
        lrows = self._label_rows(pa["ids"][lab])
        inf_a, inf_b = ~lab, pb["source"] == 1
        cat = np.concatenate
        return {
            "kind": "crop",
            "x": cat([pa["x"][lab], pa["x"][inf_a], pb["x"][inf_b]]),
            "y": cat([pa["y"][lab], pa["y"][inf_a], pb["y"][inf_b]]),
            "source": cat([pa["source"][lab], pa["source"][inf_a], pb["source"][inf_b]]),
            "ids": cat([pa["ids"][lab], pa["ids"][inf_a], pb["ids"][inf_b]]),
            "model": np.asarray([""] * int(lab.sum()) + [a] * int(inf_a.sum()) + [b] * int(inf_b.sum()), dtype=object),
            "transition": cat([trans[lrows], np.full(int(inf_a.sum() + inf_b.sum()), -1, dtype=np.int8)]),
            "type": cat([pa["type"][lab], pa["type"][inf_a], pb["type"][inf_b]]),
            "class": cat([pa["class"][lab], pa["class"][inf_a], pb["class"][inf_b]]),
            "frame_id": cat([pa["frame_id"][lab], pa["frame_id"][inf_a], pb["frame_id"][inf_b]]),
        }

    def compare_cell(
        self, a: str, b: str, options: MatchOptions | None = None, *, gt_class: str, pred_class: str, limit: int = 200
    ) -> dict[str, Any]:
        """The changed pairs behind one cell of the difference matrix.

        For a label class row: the labels of that class whose cell differs between A and
        B where one of the two cells is this one (with the class each model gave, or
        ``"background"`` when missed). For the background row (unmatched inferences,
        which have no counterpart in the other set): the FPs of that class of each model.
        """
        a, b = self._pair(a, b)
        options = MatchOptions() if options is None else options
        ds = self.dataset
        names = ds.classes.names_with_background
        g, p = ds.classes.index_of_name(gt_class), ds.classes.index_of_name(pred_class)
        ta, tb = self.table(a, options), self.table(b, options)
        if g != ds.classes.background:
            cells = []
            for t in (ta, tb):
                col = np.full(ds.labels.id.size, ds.classes.background, dtype=np.int64)
                has = t.label >= 0
                col[t.label[has]] = t.pred_class[has]
                cells.append(col)
            of_class = ds.labels.cls == g
            changed = of_class & ((cells[0] == p) != (cells[1] == p))
            rows = np.flatnonzero(changed)
            recs = [
                {"gt_id": int(ds.labels.id[r]), "image_id": int(ds.frames.id[ds.labels.frame[r]]),
                 "gt_class": names[g], f"pred_class_{a}": names[cells[0][r]], f"pred_class_{b}": names[cells[1][r]],
                 "change": "entered" if cells[1][r] == p else "left"}
                for r in rows[:limit].tolist()
            ]
            return {"gt_class": gt_class, "pred_class": pred_class, "total": int(rows.size), "rows": recs}
        out: dict[str, Any] = {"gt_class": gt_class, "pred_class": pred_class, "rows": []}
        total = 0
        for name, t in ((a, ta), (b, tb)):
            sel = np.flatnonzero((t.label < 0) & (t.pred_class == p) & (t.type == FP))
            total += int(sel.size)
            out["rows"] += [
                {"model": name, "pred_index": int(t.pred[r]), "image_id": int(ds.frames.id[t.frame[r]]),
                 "score": json_value(float(t.score[r]))}
                for r in sel[:limit].tolist()
            ]
        out["total"] = total
        return out
