"""Failure discovery of a stored dataset: clusters, departing slices, training-set coverage
(a part of :class:`DatasetView`). The analyses live in :mod:`aquaembed.analysis`; this part
feeds them the match table, the stored kNN graph and the indexes, and caches what does not
depend on the thresholds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from aquaembed.analysis.clusters import (
    CUSTOM_METRIC_CLUSTERS,
    ERROR_KINDS,
    CropGraph,
    cluster_rows,
    describe_clusters,
)
from aquaembed.analysis.coverage import CUSTOM_METRIC_LABEL_CROPS, coverage_report, nearest
from aquaembed.analysis.slices import SliceSet, build_slices, slice_departures
from aquaembed.artifacts import CROP_INDEX, CROP_KNN, CROP_KNN_SIM, FRAME_INDEX
from aquaembed.errors import NotFoundError, ParameterError
from aquaembed.explore.embeddings import EmbeddingsPart
from aquaembed.matching import CONFUSION, FN, FP, TP, MatchOptions
from aquaembed.metrics import FrameMatrices, inference_types, label_types

__all__ = ["CUSTOM_METRIC_CLUSTERS", "CUSTOM_METRIC_LABEL_CROPS", "ReportPart"]




def _mask_key(mask: np.ndarray | None) -> bytes | None:
    """A cache key of a frame restriction (its bits)."""
    return None if mask is None else np.packbits(mask).tobytes()


class ReportPart(EmbeddingsPart):
    """Failure clusters, slices that depart from the rest, and coverage by a training set."""

    if TYPE_CHECKING:  # provided by CustomPart in the assembled DatasetView
        def frame_matrices(self, model: str | None = None, options: MatchOptions | None = None,
                           metric: str | None = None) -> FrameMatrices: ...

        def custom_metrics(self, model: str | None = None) -> dict[str, dict[str, Any]]: ...

        def scenario_mask(self, scenario: str | None) -> np.ndarray | None: ...

    def custom_metric(self, model: str, metric: str | None) -> str | None:
        """``metric`` when it names a custom metric of ``model``; None for the built-in matching
        (``None`` or ``"builtin"``).

        Raises
        ------
        NotFoundError
            ``model`` has no custom metric of that name (parameter ``metric``).
        """
        if metric is None or metric == "builtin":
            return None
        known = self.custom_metrics(model)
        if metric not in known:
            raise NotFoundError(f"metric: inference set {model!r} has no custom metric {metric!r}; known: "
                                f"{', '.join(known) or 'none'}", parameter="metric")
        return metric

    def slice_set(self, *, pairs: bool = True, regions: bool = True) -> SliceSet:
        """The candidate slices (metadata values, pairs, frame-embedding regions), built once."""
        ds = self.dataset
        reg = self.frame_regions() if regions else None
        return self._once(
            f"slices-{pairs}-{regions}",
            lambda: build_slices(ds.frames.metadata, len(ds.frames), regions=reg, pairs=pairs),
        )

    def crop_graph(self) -> CropGraph:
        """The crops' kNN graph stored at ingest (loaded once); for a dataset ingested before
        the graph existed, computed from the crop index in memory."""
        names = self.stored.artifact_names
        if CROP_KNN not in names or CROP_KNN_SIM not in names:
            self._artifact(CROP_INDEX, "crop embeddings")

            def compute() -> CropGraph:
                from aquaembed.embeddings.graph import knn_graph

                return CropGraph(*knn_graph(self.index("crop")))

            return self._once(CROP_KNN, compute)

        def load() -> CropGraph:
            return CropGraph(np.asarray(self.stored.load_array(CROP_KNN)), np.asarray(self.stored.load_array(CROP_KNN_SIM)))

        return self._once(CROP_KNN, load)

    def _crop_rows(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """Crop-index row of every inference of ``model`` and of every label row (-1 if none)."""

        def compute() -> tuple[np.ndarray, np.ndarray]:
            table, sources = self.crop_table()
            ds = self.dataset
            pred_rows = np.full(len(ds.inference_set(model)), -1, dtype=np.int64)
            label_rows = np.full(len(ds.labels), -1, dtype=np.int64)
            if f"pred-{model}" in sources:
                hit = np.flatnonzero(table[:, 0] == sources.index(f"pred-{model}"))
                pred_rows[table[hit, 1]] = hit
            if "label" in sources:
                hit = np.flatnonzero(table[:, 0] == sources.index("label"))
                lr = self._label_rows(table[hit, 1])
                label_rows[lr[lr >= 0]] = hit[lr >= 0]
            return pred_rows, label_rows

        return self._once(f"crop-rows-{model}", compute)

    def crop_frames(self) -> np.ndarray:
        """Frame row of every crop of the graph (crop-index order), int64 (n,); -1 if unknown."""

        def compute() -> np.ndarray:
            table, sources = self.crop_table()
            ds = self.dataset
            out = np.full(table.shape[0], -1, dtype=np.int64)
            for code, src in enumerate(sources):
                hit = np.flatnonzero(table[:, 0] == code)
                if src == "label":
                    lr = self._label_rows(table[hit, 1])
                    out[hit[lr >= 0]] = ds.labels.frame[lr[lr >= 0]]
                elif src.startswith("pred-") and src[5:] in self.models():
                    out[hit] = ds.inference_set(src[5:]).frame[table[hit, 1]]
            return out

        return self._once("crop-frames", compute)

    def cluster_population(self, model: str, mask: np.ndarray | None = None) -> np.ndarray:
        """The crops that can be errors of ``model``: the label crops and ``model``'s inference
        crops (of the scenario's frames ``mask`` when given), bool (n,) in crop-index order.
        The crops of other inference sets are neither candidates nor part of the chance level."""

        def compute() -> np.ndarray:
            table, sources = self.crop_table()
            codes = [sources.index(s) for s in ("label", f"pred-{model}") if s in sources]
            return np.isin(table[:, 0], codes)

        pop = self._once(f"crop-population-{model}", compute)
        if mask is None:
            return pop
        cf = self.crop_frames()
        return pop & (cf >= 0) & mask[np.maximum(cf, 0)]

    def failure_clusters(
        self,
        model: str | None = None,
        options: MatchOptions | None = None,
        *,
        kinds: tuple[str, ...] = ERROR_KINDS,
        min_cluster_size: int = 8,
        alpha: float = 1e-3,
        scenario: str | None = None,
    ) -> list[dict[str, Any]]:
        """Clusters of error crops at these options, ranked (best first), ids 0...

        See :mod:`aquaembed.analysis.clusters` for the method. Each record follows the
        report's ``clusters`` contract. The density test and the chance level count the crops
        of :meth:`cluster_population` (labels and ``model``'s inferences). With a ``scenario``
        only the error crops of its frames are clustered (and only its frames' crops counted).
        """
        bad = [k for k in kinds if k not in ERROR_KINDS]
        if bad:
            raise ParameterError(f"kinds: unknown error type {bad[0]!r}; use {', '.join(ERROR_KINDS)}", parameter="kinds")
        model = self.model(model)
        match = self.table(model, options)
        mask = self.scenario_mask(scenario)
        return self._derived.get(
            ("clusters", model, match.options, tuple(kinds), min_cluster_size, alpha, _mask_key(mask)),
            lambda: self._clusters(model, match, kinds, min_cluster_size, alpha, mask),
        )

    def _clusters(self, model: str, match: Any, kinds: tuple[str, ...], min_size: int, alpha: float,
                  mask: np.ndarray | None = None) -> list[dict[str, Any]]:
        graph = self.crop_graph()
        index = self.index("crop")
        ds = self.dataset
        inf = ds.inference_set(model)
        pred_rows, label_rows = self._crop_rows(model)
        l_types, l_other = label_types(match)
        p_types, _ = inference_types(match)
        names = list(ds.classes.names_with_background)
        meta = ds.frames.metadata
        eps = self._once("knn-eps", graph.distance_scale)
        population = self.cluster_population(model, mask)
        out: list[dict[str, Any]] = []
        for kind in kinds:
            if kind == "FP":
                sel = np.flatnonzero((p_types == FP) & (pred_rows >= 0))
                rows, ids, cls, frames = pred_rows[sel], sel, inf.cls[sel], inf.frame[sel]
                score, other, source = inf.score[sel], None, "pred"
                ref = (pred_rows >= 0) & (p_types >= 0)
                ref_frames, ref_cls = inf.frame[ref], inf.cls[ref]
            else:
                code = FN if kind == "FN" else CONFUSION
                sel = np.flatnonzero((l_types == code) & (label_rows >= 0))
                rows, ids, cls, frames = label_rows[sel], ds.labels.id[sel], ds.labels.cls[sel], ds.labels.frame[sel]
                score, source = None, "label"
                other = l_other[sel] if kind == "confusion" else None
                ref = label_rows >= 0
                ref_frames, ref_cls = ds.labels.frame[ref], ds.labels.cls[ref]
            if mask is not None:
                inside = mask[frames]
                sel, rows, ids, cls, frames = sel[inside], rows[inside], ids[inside], cls[inside], frames[inside]
                score = None if score is None else score[inside]
                other = None if other is None else other[inside]
            if rows.size == 0:
                continue
            labels = cluster_rows(graph, rows, population=population, min_cluster_size=min_size, alpha=alpha, eps=eps)
            if not (labels >= 0).any():
                continue
            keep = labels >= 0
            vectors = np.zeros((rows.size, index.dim), np.float32)
            vectors[keep] = index.vectors(rows[keep])
            out += describe_clusters(
                kind, labels, rows, vectors=vectors, source=source, ids=ids, cls=cls, frame_rows=frames,
                score=score, ref_frame_rows=ref_frames, ref_cls=ref_cls, class_names=names,
                frame_ids=ds.frames.id, metadata=meta, n_errors=int(rows.size), other_cls=other,
            )
        out.sort(key=lambda r: -r["score"])
        return [{"id": i, **r} for i, r in enumerate(out)]

    def frame_regions(self, *, n_regions: int | None = None, seed: int = 0) -> np.ndarray | None:
        """Region (a k-means cell of the frame embeddings, FAISS) of every frame row, or None
        without frame embeddings. ``n_regions`` defaults to ``clip(sqrt(F / 4), 2, 32)``."""
        if FRAME_INDEX not in self.stored.artifact_names:
            return None

        def compute() -> np.ndarray:
            import faiss

            index = self.index("frame")
            ids = np.asarray(index.ids)
            x = index.vectors(ids)
            k = n_regions or int(np.clip(np.sqrt(len(ids) / 4), 2, 32))
            if len(ids) < 2 * k:
                return np.full(len(self.dataset.frames), -1, dtype=np.int64)
            km = faiss.Kmeans(x.shape[1], k, niter=10, seed=seed, spherical=True, max_points_per_centroid=64)
            km.train(x)
            _, assign = km.index.search(x, 1)
            out = np.full(len(self.dataset.frames), -1, dtype=np.int64)
            out[self.dataset.frames.index_of_ids(ids)] = assign[:, 0]
            return out

        return self._once(f"regions-{n_regions}-{seed}", compute)

    def slice_departures(
        self,
        model: str | None = None,
        options: MatchOptions | None = None,
        *,
        alpha: float = 0.05,
        pairs: bool = True,
        regions: bool = True,
        limit: int | None = None,
        metric: str | None = None,
        scenario: str | None = None,
    ) -> dict[str, Any]:
        """Slices whose precision, recall or F1 departs from the rest (see :mod:`aquaembed.analysis.slices`).

        With a custom ``metric`` the per-frame counts come from its per-frame matrices;
        with a ``scenario`` each slice is its frames within the scenario, tested against
        the scenario's other frames.
        """
        model = self.model(model)
        options = MatchOptions() if options is None else options
        metric = self.custom_metric(model, metric)
        source: Any = self.table(model, options) if metric is None else self.frame_matrices(model, options, metric)
        key_options = source.options if metric is None else options
        ds = self.dataset
        slices = self.slice_set(pairs=pairs, regions=regions)
        mask = self.scenario_mask(scenario)
        return self._derived.get(
            ("departures", model, key_options, metric, alpha, pairs, regions, limit, _mask_key(mask)),
            lambda: slice_departures(source, slices, list(ds.classes.names), frame_ids=ds.frames.id, alpha=alpha,
                                     limit=limit, frames=mask),
        )

    def slice_frame_ids(self, record: dict[str, Any]) -> np.ndarray:
        """Frame ids of a slice record (as :meth:`slice_departures` lists them), in id order."""
        ds = self.dataset
        if record["field"] == "region":
            if "frame_ids" in record:
                return np.sort(np.asarray(record["frame_ids"], dtype=np.int64))
            reg = self.frame_regions()
            return np.sort(ds.frames.id[reg == int(record["value"])]) if reg is not None else np.zeros(0, np.int64)
        fields = record["field"] if isinstance(record["field"], list) else [record["field"]]
        values = record["value"] if isinstance(record["field"], list) else [record["value"]]
        from aquaembed.analysis.slices import slice_mask

        return np.sort(ds.frames.id[slice_mask(ds.frames.metadata, fields, values)])

    def coverage(
        self,
        train: ReportPart,
        model: str | None = None,
        options: MatchOptions | None = None,
        *,
        near_duplicate: float = 0.98,
        metric: str | None = None,
    ) -> dict[str, Any]:
        """How close every frame and label crop is to training dataset ``train`` (its view).

        With a custom ``metric`` the metrics by similarity bin come from its per-frame
        matrices, and recall by label-crop similarity (which needs to know which label was
        found) is left out with a note.
        """
        model = self.model(model)
        match = self.table(model, options)
        metric = self.custom_metric(model, metric)
        ds = self.dataset
        if FRAME_INDEX not in self.stored.artifact_names or FRAME_INDEX not in train.stored.artifact_names:
            raise NotFoundError(f"coverage needs frame embeddings in both {self.name!r} and {train.name!r}")
        fi = self.index("frame")
        ids = np.asarray(fi.ids)
        sim = np.full(len(ds.frames), np.nan)
        near = np.full(len(ds.frames), -1, dtype=np.int64)
        rows = ds.frames.index_of_ids(ids)
        sim[rows], near[rows] = nearest(train.index("frame"), fi.vectors(ids))
        label_sim = label_hit = None
        try:
            _table, sources = self.crop_table()
            t_table, t_sources = train.crop_table()
        except NotFoundError:
            sources = t_sources = []
        if metric is None and "label" in sources and "label" in t_sources:
            _, label_rows = self._crop_rows(model)
            ok = label_rows >= 0
            t_mask = t_table[:, 0] == t_sources.index("label")
            label_sim = np.full(len(ds.labels), np.nan)
            subset = None if t_mask.all() else t_mask
            label_sim[ok], _ = nearest(train.index("crop"), self.index("crop").vectors(label_rows[ok]), subset=subset)
            lt, _ = label_types(match)
            label_hit = lt == TP
        out = coverage_report(
            match if metric is None else self.frame_matrices(model, options, metric), train=train.name, frame_sim=sim, frame_nearest=near, frame_ids=ds.frames.id,
            metadata=ds.frames.metadata, label_sim=label_sim, label_hit=label_hit, near_duplicate=near_duplicate,
        )
        if metric is not None:
            out.update(metric=metric, label_crops_note=CUSTOM_METRIC_LABEL_CROPS)
        return out
