"""Interactive exploration of stored datasets: the library layer behind the API and dashboard.

A :class:`Workspace` opens the datasets of a data directory; a :class:`DatasetView`
answers the questions the service and the dashboard ask (metrics at thresholds, frame
tables, the rows of a confusion cell, ...) by calling the matching engine and the
metrics, and caches what is expensive:

* the candidate pairs of each inference set (computed once per process);
* match tables, keyed by (inference set, conf, IoU), in a bounded LRU cache;
* COCO mAP per inference set, PR curves per (inference set, IoU).

Every method is thread-safe: caches are guarded by locks, cached values are immutable,
and two requests with different thresholds never share a result.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping, Sequence, TypeVar

import numpy as np

from aquaembed.data import Dataset
from aquaembed.errors import NotFoundError, ParameterError
from aquaembed.evaluate import Evaluator, evaluation, match_rows
from aquaembed.metrics import json_value
from aquaembed.embeddings.index import VectorIndex
from aquaembed.artifacts import CROP_INDEX, CROP_PROJECTION, CROP_TABLE, FRAME_INDEX, FRAME_PROJECTION
from aquaembed.matching import TYPE_NAMES, MatchOptions, MatchTable
from aquaembed.metrics import frame_report, inference_types, label_types, pr_curve, slice_report
from aquaembed.store import Store, StoredDataset

__all__ = ["Workspace", "DatasetView", "LRUCache", "FRAME_SORT_KEYS", "MATCH_SORT_KEYS"]

T = TypeVar("T")

FRAME_SORT_KEYS = ("id", "tp", "fp", "fn", "precision", "recall", "f1")
"""Per-frame columns the frame table sorts by (metadata fields are allowed too)."""

MATCH_SORT_KEYS = ("score", "iou", "area", "aspect")
"""Keys the rows of a confusion cell sort by."""


class LRUCache:
    """A small thread-safe LRU cache of computed values."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = compute()
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


class DatasetView:
    """One stored dataset, ready to answer exploration queries.

    Parameters
    ----------
    stored : StoredDataset
    cache_size : int
        How many match tables (one per inference set and threshold pair) to keep.
    """

    def __init__(self, stored: StoredDataset, *, cache_size: int = 32) -> None:
        self.stored = stored
        self.name = stored.name
        self._lock = threading.Lock()
        self._dataset: Dataset | None = None
        self._evaluators: dict[str, Evaluator] = {}
        self._tables = LRUCache(cache_size)
        self._derived = LRUCache(cache_size * 4)
        self._static: dict[str, Any] = {}

    # ------------------------------------------------------------------ basics

    @property
    def dataset(self) -> Dataset:
        """The dataset's tables, read from the store on first use."""
        with self._lock:
            if self._dataset is None:
                self._dataset = self.stored.dataset
            return self._dataset

    @property
    def image_root(self) -> Path | None:
        """Folder of the frames' images (the ingest's ``images`` source), or None.

        A relative path is taken relative to the data directory holding the dataset.
        """
        root = (self.stored.manifest.get("source") or {}).get("images")
        if not root:
            return None
        path = Path(root)
        return path if path.is_absolute() else self.stored.path.parent / path

    def models(self) -> list[str]:
        """Names of the inference sets."""
        return list(self.stored.inference_names)

    def model(self, model: str | None) -> str:
        """Resolve an inference-set name (the only one when ``model`` is None)."""
        names = self.models()
        if model is None:
            if len(names) == 1:
                return names[0]
            raise ParameterError(f"model: name an inference set; dataset {self.name!r} has {', '.join(names) or 'none'}")
        if model not in names:
            raise NotFoundError(f"dataset {self.name!r} has no inference set {model!r}; known: {', '.join(names) or 'none'}")
        return model

    def evaluator(self, model: str | None = None) -> Evaluator:
        """The evaluator (with its candidate pairs) of an inference set, built once."""
        model = self.model(model)
        with self._lock:
            ev = self._evaluators.get(model)
        if ev is None:
            ev = Evaluator(self.dataset, self.dataset.inference_set(model))
            with self._lock:
                ev = self._evaluators.setdefault(model, ev)
        return ev

    def table(self, model: str | None = None, options: MatchOptions | None = None) -> MatchTable:
        """The match table at these thresholds (cached)."""
        model = self.model(model)
        options = MatchOptions() if options is None else options
        return self._tables.get((model, options), lambda: self.evaluator(model).table(options))

    def summary(self) -> dict[str, Any]:
        """Name, counts, classes, inference sets and embedding kinds, from the manifest."""
        m = self.stored.manifest
        ds_counts = m.get("counts", {})
        return {
            "name": self.name,
            "frames": int(ds_counts.get("frames", 0)),
            "labels": int(ds_counts.get("labels", 0)),
            "classes": list(m.get("classes", {}).get("names", [])) if isinstance(m.get("classes"), dict) else [],
            "inference_sets": {
                name: int(rec.get("rows", rec.get("count", 0))) if isinstance(rec, dict) else 0
                for name, rec in (m.get("inferences") or {}).items()
            },
            "embeddings": list(self.stored.embedding_kinds),
            "frame_metadata": [rec["name"] for rec in m.get("frame_metadata", [])],
        }

    # ------------------------------------------------------------------ metrics

    def metrics(
        self, model: str | None = None, options: MatchOptions | None = None, *, coco: bool = False, pr: bool = True
    ) -> dict[str, Any]:
        """The ``evaluate`` JSON without ``matches``/``per_frame``, plus PR curves and mAP as asked."""
        model = self.model(model)
        table = self.table(model, options)
        ev = self.evaluator(model)
        curves = self._derived.get(("pr", model, table.options.replace(conf=0.0)), lambda: pr_curve(ev.candidates, table.options)) if pr else None
        coco_numbers = self._derived.get(("coco", model), ev.coco) if coco else None
        out = evaluation(self.dataset, table, coco=coco_numbers, matches=False, per_frame=False, pr=curves)
        out["model"] = model
        return out

    def frame_metrics(self, model: str | None = None, options: MatchOptions | None = None) -> dict[str, np.ndarray]:
        """Per-frame TP/FP/FN/precision/recall/F1 arrays (shape (F,)), cached."""
        model = self.model(model)
        table = self.table(model, options)
        return self._derived.get(("frames", model, table.options), lambda: frame_report(table))

    def frames(
        self,
        model: str | None = None,
        *,
        options: MatchOptions | None = None,
        sort: str = "f1",
        order: str = "asc",
        limit: int = 50,
        offset: int = 0,
        equals: Mapping[str, Sequence[str]] | None = None,
        ranges: Mapping[str, tuple[float | None, float | None]] | None = None,
    ) -> dict[str, Any]:
        """Frames with their metrics and metadata, filtered, sorted and paged.

        Parameters
        ----------
        sort : str
            One of :data:`FRAME_SORT_KEYS` or a metadata field. Undefined values
            (NaN) sort last in either order.
        order : {"asc", "desc"}
        equals : mapping of metadata field to allowed values (compared as strings)
        ranges : mapping of a metric or numeric metadata field to inclusive (lo, hi);
            a frame whose value is undefined fails any range on it.

        Returns
        -------
        dict with ``total`` (frames passing the filters) and ``rows`` (the page)
        """
        ds = self.dataset
        fm = self.frame_metrics(model, options)
        cols: dict[str, np.ndarray] = {"id": ds.frames.id, **fm, **ds.frames.metadata}
        _check_page(limit, offset, order)
        keep = np.ones(len(ds.frames), dtype=bool)
        for key, allowed in (equals or {}).items():
            col = self._column(cols, key)
            keep &= np.isin(col.astype(str), np.asarray(list(allowed), dtype=str))
        for key, (lo, hi) in (ranges or {}).items():
            col = self._column(cols, key)
            try:
                vals = col.astype(np.float64)
            except (TypeError, ValueError):
                raise ParameterError(f"{key}: a range needs a numeric field") from None
            with np.errstate(invalid="ignore"):
                if lo is not None:
                    keep &= vals >= lo
                if hi is not None:
                    keep &= vals <= hi
        rows = np.flatnonzero(keep)
        key_col = self._column(cols, sort)[rows]
        rows = rows[_sort_order(key_col, order, tiebreak=ds.frames.id[rows])]
        page = rows[offset : offset + limit]
        out_rows = []
        for i in page.tolist():
            rec: dict[str, Any] = {"id": int(ds.frames.id[i]), "file_name": str(ds.frames.file_name[i])}
            for k in ("tp", "fp", "fn"):
                rec[k] = int(fm[k][i])
            for k in ("precision", "recall", "f1"):
                v = float(fm[k][i])
                rec[k] = None if v != v else v
            rec["metadata"] = {k: json_value(v[i]) for k, v in ds.frames.metadata.items()}
            out_rows.append(rec)
        return {"total": int(rows.size), "rows": out_rows}

    def slices(
        self,
        model: str | None = None,
        *,
        options: MatchOptions | None = None,
        field: str,
        cls: str | None = None,
    ) -> dict[str, Any]:
        """Metrics per value of a frame metadata field (per scene, camera, ...).

        The slice where a model is suspiciously better than elsewhere (overfitting) or
        much worse (a hard condition) stands out here.

        Parameters
        ----------
        field : str
            A frame metadata field.
        cls : str, optional
            A class name: count only that class; default all classes.

        Returns
        -------
        dict with ``field``, ``class`` and ``rows``: one per value, in value order,
        with ``value``, ``frames``, ``tp``, ``fp``, ``fn``, ``precision``, ``recall``,
        ``f1`` (undefined ratios are None)
        """
        meta = self.dataset.frames.metadata
        if field not in meta:
            raise ParameterError(f"field: unknown metadata field {field!r}; use one of: {', '.join(meta) or 'none'}")
        class_index = None if cls is None else self.dataset.classes.index_of_name(cls)
        if class_index == self.dataset.classes.background:
            raise ParameterError("class: name a real class, not the background")
        values, groups = np.unique(np.asarray(meta[field]).astype(str), return_inverse=True)
        rep = slice_report(self.table(model, options), groups, values.size, cls=class_index)
        rows = [
            {
                "value": str(v),
                **{k: int(rep[k][i]) for k in ("frames", "tp", "fp", "fn")},
                **{k: json_value(rep[k][i]) for k in ("precision", "recall", "f1")},
            }
            for i, v in enumerate(values.tolist())
        ]
        return {"field": field, "class": cls, "rows": rows}

    @staticmethod
    def _column(cols: Mapping[str, np.ndarray], key: str) -> np.ndarray:
        if key not in cols:
            raise ParameterError(f"unknown field {key!r}; use one of: {', '.join(cols)}")
        return np.asarray(cols[key])

    # ------------------------------------------------------------------ confusion cells

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

        Returns
        -------
        dict with ``total`` and ``rows`` (contract ``matches`` entries plus the boxes
        ``gt_box``/``pred_box`` as ``[x1, y1, x2, y2]``, ``area`` and ``aspect``)
        """
        _check_page(limit, offset, order)
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
        rows = np.flatnonzero(keep)
        inf = ds.inference_set(self.model(model))
        box = self._row_boxes(table, rows, inf.box)
        w, h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            aspect = np.where(h > 0, w / np.where(h > 0, h, 1), np.nan)
        area = w * h
        key = {"score": table.score[rows], "iou": table.iou[rows], "area": area, "aspect": aspect}[sort]
        sel = _sort_order(key, order, tiebreak=rows)
        page_pos = sel[offset : offset + limit]
        page = rows[page_pos]
        out = match_rows(ds, table, page)
        lab, prd = table.label[page], table.pred[page]
        for rec, li, pi, a, asp in zip(out, lab.tolist(), prd.tolist(), area[page_pos].tolist(), aspect[page_pos].tolist()):
            rec["gt_box"] = ds.labels.box[li].tolist() if li >= 0 else None
            rec["pred_box"] = inf.box[pi].tolist() if pi >= 0 else None
            rec["area"] = a
            rec["aspect"] = None if asp != asp else asp
        return {"total": int(rows.size), "rows": out}

    # ------------------------------------------------------------------ embeddings

    def _once(self, key: str, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._static:
                return self._static[key]
        value = compute()
        with self._lock:
            return self._static.setdefault(key, value)

    def _artifact(self, name: str, what: str) -> None:
        if name not in self.stored.artifact_names:
            raise NotFoundError(f"dataset {self.name!r} has no {what} (ingest embeddings, or images to embed)")

    def index(self, kind: str) -> VectorIndex:
        """The stored FAISS index of ``kind`` ("frame" or "crop"), loaded once."""
        name = {"frame": FRAME_INDEX, "crop": CROP_INDEX}.get(kind)
        if name is None:
            raise ParameterError(f"kind must be 'frame' or 'crop', got {kind!r}")
        self._artifact(name, f"{kind} embeddings")
        return self._once(name, lambda: VectorIndex.load(self.stored.artifact_path(name) / "index.faiss"))

    def crop_table(self) -> tuple[np.ndarray, list[str]]:
        """The crop table ``(n, 2)`` int64 ``[source code, id]`` in crop-index order, and
        the source kinds (``"label"``, ``"pred-<model>"``) the codes refer to."""
        self._artifact(CROP_TABLE, "crop embeddings")

        def load() -> tuple[np.ndarray, list[str]]:
            info = self.stored.artifact_info(CROP_TABLE) or {}
            return np.asarray(self.stored.load_array(CROP_TABLE)), list((info.get("inputs") or {}).get("sources", []))

        return self._once(CROP_TABLE, load)

    def _crop_members(self, model: str) -> np.ndarray:
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

    def crop_fields(self, rows: np.ndarray, model: str, options: MatchOptions | None = None) -> dict[str, np.ndarray]:
        """Per crop-index row: source (0 label, 1 inference), id, class, type, score, frame id."""
        table, sources = self.crop_table()
        ds = self.dataset
        src, ids = table[rows, 0], table[rows, 1]
        is_label = np.asarray([sources[c] == "label" for c in range(len(sources))], dtype=bool)[src] if len(sources) else np.zeros(rows.size, bool)
        match = self.table(model, options)
        l_types, _ = self._derived.get(("ltypes", model, match.options), lambda: label_types(match))
        p_types, _ = self._derived.get(("ptypes", model, match.options), lambda: inference_types(match))
        inf = ds.inference_set(model)
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

    def projection(self, kind: str, model: str | None = None, options: MatchOptions | None = None) -> dict[str, Any]:
        """The cached 2-D projection with the fields to colour it by.

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
        model = self.model(model)
        if kind == "frame":
            self._artifact(FRAME_PROJECTION, "frame projection")
            coords = self._once(FRAME_PROJECTION, lambda: np.asarray(self.stored.load_array(FRAME_PROJECTION)))
            ids = self._once("frame-ids", lambda: np.asarray(self.stored.embeddings("frame")[0]))
            rows = self.dataset.frames.index_of_ids(ids)
            fm = self.frame_metrics(model, options)
            out: dict[str, Any] = {"kind": "frame", "ids": ids, "x": coords[:, 0], "y": coords[:, 1]}
            out.update({k: fm[k][rows] for k in ("tp", "fp", "fn", "precision", "recall", "f1")})
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
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 1000:
            raise ParameterError(f"k must be an integer in [1, 1000], got {k!r}")
        model = self.model(model)
        index = self.index(kind)
        if kind == "frame":
            sims, ids = index.search_ids(np.array([id]), k)
            keep = ids[0] >= 0
            nb_ids, nb_sims = ids[0][keep], sims[0][keep]
            rows = self.dataset.frames.index_of_ids(np.concatenate([[id], nb_ids]))
            fm = self.frame_metrics(model, options)
            meta = self.dataset.frames.metadata

            def frame_rec(row: int) -> dict[str, Any]:
                rec: dict[str, Any] = {"id": int(self.dataset.frames.id[row])}
                rec.update({m: int(fm[m][row]) for m in ("tp", "fp", "fn")})
                rec.update({m: json_value(fm[m][row]) for m in ("precision", "recall", "f1")})
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

    def _row_boxes(self, table: MatchTable, rows: np.ndarray, pred_boxes: np.ndarray) -> np.ndarray:
        """Box of each row: the label's, or the inference's when the row has no label."""
        lab = table.label[rows]
        out = np.empty((rows.size, 4))
        has = lab >= 0
        out[has] = self.dataset.labels.box[lab[has]]
        out[~has] = pred_boxes[table.pred[rows][~has]]
        return out


def _check_page(limit: int, offset: int, order: str) -> None:
    if limit < 0:
        raise ParameterError(f"limit must be >= 0, got {limit}")
    if offset < 0:
        raise ParameterError(f"offset must be >= 0, got {offset}")
    if order not in ("asc", "desc"):
        raise ParameterError(f"order must be 'asc' or 'desc', got {order!r}")


def _sort_order(key: np.ndarray, order: str, *, tiebreak: np.ndarray) -> np.ndarray:
    """Stable sort positions of ``key`` (NaN / None last in either direction)."""
    key = np.asarray(key)
    if key.dtype.kind in "fiub":
        k = key.astype(np.float64)
        missing = np.isnan(k)
        k = np.where(missing, 0.0, k)
        primary = -k if order == "desc" else k
        return np.lexsort((tiebreak, primary, missing))
    strs = key.astype(str)
    uniq, inv = np.unique(strs, return_inverse=True)
    rank = inv if order == "asc" else (uniq.size - 1 - inv)
    return np.lexsort((tiebreak, rank))


class Workspace:
    """The datasets of one data directory, opened on demand and kept open.

    Parameters
    ----------
    root : path
        The data directory.
    cache_size : int
        Match tables kept per dataset.
    """

    def __init__(self, root: str | Path, *, cache_size: int = 32) -> None:
        self.root = Path(root)
        self.store = Store(self.root)
        self._cache_size = cache_size
        self._views: dict[str, DatasetView] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Names of the stored datasets."""
        return self.store.list()

    def get(self, name: str) -> DatasetView:
        """The view of dataset ``name``; raises NotFoundError for an unknown name."""
        with self._lock:
            view = self._views.get(name)
            if view is not None:
                return view
        if name not in self.names():
            raise NotFoundError(f"unknown dataset {name!r}; known: {', '.join(self.names()) or 'none'}")
        view = DatasetView(self.store.open(name), cache_size=self._cache_size)
        with self._lock:
            return self._views.setdefault(name, view)
