"""Embeddings of a stored dataset: indexes, projections and similarity search (a part of :class:`DatasetView`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from aquaembed._validate import integer
from aquaembed.artifacts import CROP_INDEX, CROP_PROJECTION, CROP_TABLE, FRAME_INDEX, FRAME_PROJECTION
from aquaembed.embeddings.index import VectorIndex
from aquaembed.embeddings.rerank import stored_vectors
from aquaembed.errors import NotFoundError, ParameterError
from aquaembed.explore.base import ViewBase
from aquaembed.matching import TYPE_NAMES, MatchOptions
from aquaembed.metrics import FrameReport, inference_types, json_value, label_types

__all__ = ["EmbeddingsPart"]


class EmbeddingsPart(ViewBase):
    """FAISS indexes, the crop table, projections coloured by metrics, nearest neighbours."""

    if TYPE_CHECKING:  # provided by MetricsPart in the assembled DatasetView

        def frame_metrics(self, model: str | None = None, options: MatchOptions | None = None,
                          metric: str | None = None) -> FrameReport: ...

    def index(self, kind: str) -> VectorIndex:
        """The stored FAISS index of ``kind`` ("frame" or "crop"), loaded once; a compressed
        (IVF-PQ) one with its full vectors attached, so every search re-ranks."""
        name = {"frame": FRAME_INDEX, "crop": CROP_INDEX}.get(kind)
        if name is None:
            raise ParameterError(f"kind must be 'frame' or 'crop', got {kind!r}")
        self._artifact(name, f"{kind} embeddings")

        def load() -> VectorIndex:
            index = VectorIndex.load(self.stored.artifact_path(name) / "index.faiss")
            if index.lossy:  # IVF-PQ: every search re-ranks on the stored (memory-mapped) embeddings
                full = stored_vectors(self.stored, ["frame"] if kind == "frame" else self.crop_table()[1])
                if full is not None:
                    index.attach_vectors(full)
            return index

        return self._once(name, load)

    def crop_table(self) -> tuple[np.ndarray, list[str]]:
        """The crop table ``(n, 2)`` int64 ``[source code, id]`` in crop-index order, and
        the source kinds (``"label"``, ``"pred-<model>"``) the codes refer to."""
        self._artifact(CROP_TABLE, "crop embeddings")

        def load() -> tuple[np.ndarray, list[str]]:
            info = self.stored.artifact_info(CROP_TABLE) or {}
            return np.asarray(self.stored.load_array(CROP_TABLE)), list((info.get("inputs") or {}).get("sources", []))

        return self._once(CROP_TABLE, load)

    def _crop_members(self, model: str | None) -> np.ndarray:
        """Mask over crop-index rows: label crops and the crops of inference set ``model``."""
        table, sources = self.crop_table()
        codes = [i for i, src in enumerate(sources) if src in ("label", f"pred-{model}")]
        return np.isin(table[:, 0], codes)

    def _label_rows(self, label_ids: np.ndarray) -> np.ndarray:
        ids = self.dataset.labels.id
        order = self._once("label-order", lambda: np.argsort(ids, kind="stable"))
        pos = np.searchsorted(ids[order], label_ids)
        pos = np.minimum(pos, max(ids.size - 1, 0))
        rows = order[pos] if ids.size else np.zeros(0, dtype=np.int64)
        return np.where(ids[rows] == label_ids, rows, -1) if ids.size else np.full(label_ids.shape, -1)

    def crop_fields(self, rows: np.ndarray, model: str | None, options: MatchOptions | None = None) -> dict[str, np.ndarray]:
        """Per crop-index row: source (0 label, 1 inference), id, class, type, score, frame id."""
        table, sources = self.crop_table()
        ds = self.dataset
        src, ids = table[rows, 0], table[rows, 1]
        is_label = np.asarray([sources[c] == "label" for c in range(len(sources))], dtype=bool)[src] if len(sources) else np.zeros(rows.size, bool)
        match = self.table(model, options)
        l_types, _ = self._derived.get(("ltypes", model, match.options), lambda: label_types(match))
        p_types, _ = self._derived.get(("ptypes", model, match.options), lambda: inference_types(match))
        inf = self.inferences(model)
        cls = np.empty(rows.size, dtype=np.int64)
        typ = np.empty(rows.size, dtype=np.int8)
        score = np.full(rows.size, np.nan)
        frame_row = np.empty(rows.size, dtype=np.int64)
        lr = self._label_rows(ids[is_label])
        cls[is_label], typ[is_label], frame_row[is_label] = ds.labels.cls[lr], l_types[lr], ds.labels.frame[lr]
        pr = ids[~is_label]
        cls[~is_label], typ[~is_label] = inf.cls[pr], p_types[pr]
        score[~is_label], frame_row[~is_label] = inf.score[pr], inf.frame[pr]
        return {
            "source": np.where(is_label, 0, 1).astype(np.uint8),
            "ids": ids,
            "class": cls,
            "type": typ,
            "score": score,
            "frame_id": ds.frames.id[frame_row],
        }

    def projection(self, kind: str, model: str | None = None, options: MatchOptions | None = None, *,
                   metric: str | None = None) -> dict[str, Any]:
        """The cached 2-D projection with the fields to colour it by.

        ``metric`` (frames only) takes the per-frame counts and ratios from a custom metric
        instead of the built-in matching; crop match types always come from the built-in
        matching (a custom metric has per-frame counts, not boxes).

        Returns
        -------
        dict of arrays (all of one length n)
            ``x``, ``y`` (float32) and, for ``kind="frame"``: ``ids`` (frame ids),
            ``tp``/``fp``/``fn``, ``precision``/``recall``/``f1`` (NaN undefined) and
            ``metadata`` (a dict of columns); for ``kind="crop"``: the crops of the
            labels and of inference set ``model`` with ``source`` (0 label, 1 inference),
            ``ids`` (label id or inference index), ``class`` (class index), ``type``
            (match type code, -1 below the confidence threshold), ``score`` and
            ``frame_id``.
        """
        model = self.resolve(model)
        if kind == "frame":
            self._artifact(FRAME_PROJECTION, "frame projection")
            coords = self._once(FRAME_PROJECTION, lambda: np.asarray(self.stored.load_array(FRAME_PROJECTION)))
            ids = self._once("frame-ids", lambda: np.asarray(self.stored.embeddings("frame")[0]))
            rows = self.dataset.frames.index_of_ids(ids)
            fm = self.frame_metrics(model, options, metric)
            out: dict[str, Any] = {"kind": "frame", "ids": ids, "x": coords[:, 0], "y": coords[:, 1]}
            out.update(fm.counts[rows].as_dict())
            out["metadata"] = {k: v[rows] for k, v in self.dataset.frames.metadata.items()}
            return out
        if kind == "crop":
            self._artifact(CROP_PROJECTION, "crop projection")
            coords = self._once(CROP_PROJECTION, lambda: np.asarray(self.stored.load_array(CROP_PROJECTION)))
            rows = np.flatnonzero(self._crop_members(model))
            out = {"kind": "crop", "x": coords[rows, 0], "y": coords[rows, 1]}
            out.update(self.crop_fields(rows, model, options))
            return out
        raise ParameterError(f"kind must be 'frame' or 'crop', got {kind!r}")

    def similar(
        self,
        kind: str,
        id: int,
        *,
        k: int = 10,
        model: str | None = None,
        options: MatchOptions | None = None,
        source: str = "label",
        types: Sequence[str] | None = None,
        same_class: bool = False,
    ) -> dict[str, Any]:
        """Nearest neighbours of a frame or a crop by cosine similarity (FAISS).

        Parameters
        ----------
        kind : {"frame", "crop"}
        id : int
            A frame id; or a label id (``source="label"``) or an inference index
            (``source="pred"``) of ``model``.
        k : int
            Number of neighbours (the query itself excluded).
        types : list of str, optional
            Crops only: keep neighbours of these match types (TP, FP, FN, confusion).
        same_class : bool
            Crops only: keep neighbours of the query's class.

        Returns
        -------
        dict with ``query`` and ``neighbors`` (each with ``similarity`` and the
        neighbour's metrics or match type)
        """
        k = integer(k, "k", low=1, high=1000)
        model = self.resolve(model)
        index = self.index(kind)
        if kind == "frame":
            sims, ids = index.search_ids(np.array([id]), k)
            keep = ids[0] >= 0
            nb_ids, nb_sims = ids[0][keep], sims[0][keep]
            rows = self.dataset.frames.index_of_ids(np.concatenate([[id], nb_ids]))
            fm = self.frame_metrics(model, options)
            meta = self.dataset.frames.metadata

            def frame_rec(row: int) -> dict[str, Any]:
                rec: dict[str, Any] = {"id": int(self.dataset.frames.id[row]), **fm.counts[row].to_json()}
                rec["metadata"] = {key: json_value(col[row]) for key, col in meta.items()}
                return rec

            neighbors = [{**frame_rec(int(r)), "similarity": float(sv)} for r, sv in zip(rows[1:], nb_sims.tolist())]
            return {"kind": "frame", "query": frame_rec(int(rows[0])), "neighbors": neighbors}
        table, sources = self.crop_table()
        want = "label" if source == "label" else f"pred-{model}" if source == "pred" else None
        if want is None:
            raise ParameterError(f"source must be 'label' or 'pred', got {source!r}")
        if want not in sources:
            raise NotFoundError(f"dataset {self.name!r} has no {want} crop embeddings")
        hit = np.flatnonzero((table[:, 0] == sources.index(want)) & (table[:, 1] == id))
        if hit.size == 0:
            raise NotFoundError(f"dataset {self.name!r} has no {source} crop {id}")
        query_row = int(hit[0])
        mask = self._crop_members(model)
        if types is not None or same_class:
            all_rows = np.flatnonzero(mask)
            fields = self.crop_fields(all_rows, model, options)
            ok = np.ones(all_rows.size, dtype=bool)
            if types is not None:
                bad = [t for t in types if t not in TYPE_NAMES]
                if bad:
                    raise ParameterError(f"types: unknown type {bad[0]!r}; use {', '.join(TYPE_NAMES)}")
                ok &= np.isin(fields["type"], [TYPE_NAMES.index(t) for t in types])
            if same_class:
                qcls = self.crop_fields(np.array([query_row]), model, options)["class"][0]
                ok &= fields["class"] == qcls
            mask = np.zeros_like(mask)
            mask[all_rows[ok]] = True
        mask[query_row] = False
        sims, nb = index.search_ids(np.array([query_row]), k, subset=mask)
        keep = nb[0] >= 0
        rows = np.concatenate([[query_row], nb[0][keep]]).astype(np.int64)
        fields = self.crop_fields(rows, model, options)
        names = self.dataset.classes.names_with_background
        recs = [
            {
                "source": "label" if fields["source"][i] == 0 else "pred",
                "id": int(fields["ids"][i]),
                "class": names[int(fields["class"][i])],
                "type": TYPE_NAMES[int(fields["type"][i])] if fields["type"][i] >= 0 else "below threshold",
                "score": json_value(fields["score"][i]),
                "frame_id": int(fields["frame_id"][i]),
            }
            for i in range(rows.size)
        ]
        for rec, sv in zip(recs[1:], sims[0][keep].tolist()):
            rec["similarity"] = float(sv)
        return {"kind": "crop", "model": model, "query": recs[0], "neighbors": recs[1:]}
