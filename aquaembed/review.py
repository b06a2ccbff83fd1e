"""Review verdicts on label issues, stored in the dataset, and the fixes they imply.

A verdict says what a person decided about one label issue: ``accept`` (optionally with
an edited class), ``reject`` or ``skip``. Verdicts are kept in the dataset folder as one
append-only log (the ``reviews`` artefact, JSON): :meth:`ReviewLog.record` takes an OS lock
(``fcntl``) on the dataset's review lock file (``.<name>.reviews.lock`` beside the folder), re-reads the log as stored, appends the
verdict and writes the log back through the store's atomic artefact writer. Two browser
tabs (or processes) recording at once are serialised by the lock, so no verdict is lost;
a crash mid-write leaves the previous log readable. The latest verdict per issue wins.

:func:`apply_fixes` turns the accepted verdicts into a corrected ground truth: missing
labels added from their inference (new ids above the largest existing id, in inference
order), classes changed, boxes replaced, duplicate and spurious labels dropped; every
other label keeps its id.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson

from aquaembed.data import Dataset, Inferences, Labels
from aquaembed.errors import InputError, ParameterError, StoreError
from aquaembed.geometry import xywh_to_xyxy

try:  # pragma: no cover - always present on the platforms we run on
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = ["REVIEWS_ARTIFACT", "VERDICTS", "ReviewLog", "Verdict", "apply_fixes", "issue_key"]

VerdictName = Literal["accept", "reject", "skip"]
VERDICTS: tuple[str, ...] = ("accept", "reject", "skip")
REVIEWS_ARTIFACT = "reviews"
_LOCK = ".reviews.lock"
_KINDS = ("missing_label", "wrong_class", "bad_location", "duplicate_label", "spurious_label")


def issue_key(model: str, kind: str, label_id: int | None, pred_index: int | None) -> str:
    """The stable key of an issue: model, kind and the label id or inference index."""
    return f"{model}|{kind}|{'label' if label_id is not None else 'pred'}|{label_id if label_id is not None else pred_index}"


@dataclass(frozen=True)
class Verdict:
    """One decision on one issue, with the fix it accepts.

    Parameters
    ----------
    model : str
        Inference set the issue came from.
    issue : dict
        The issue record (``kind``, ``label_id``, ``pred_index``, ``frame``,
        ``suggested_class``, ``suggested_box``, and ``duplicate_of`` for a duplicate).
    verdict : {"accept", "reject", "skip"}
    new_class : str, optional
        With ``accept``: the class to give the label (overrides ``suggested_class``).
    """

    model: str
    issue: dict[str, Any]
    verdict: VerdictName
    new_class: str | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ParameterError(f"verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}", parameter="verdict")
        kind = self.issue.get("kind")
        if kind not in _KINDS:
            raise ParameterError(f"issue kind must be one of {', '.join(_KINDS)}, got {kind!r}", parameter="kind")
        if (self.issue.get("label_id") is None) == (kind != "missing_label"):
            raise ParameterError(f"a {kind} issue needs {'no ' if kind == 'missing_label' else 'a '}label_id", parameter="label_id")
        if kind == "missing_label" and self.issue.get("pred_index") is None:
            raise ParameterError("a missing_label issue needs a pred_index", parameter="pred_index")

    @property
    def key(self) -> str:
        return issue_key(self.model, self.issue["kind"], self.issue.get("label_id"), self.issue.get("pred_index"))

    def to_json(self) -> dict[str, Any]:
        keep = ("kind", "label_id", "pred_index", "frame", "suggested_class", "suggested_box", "duplicate_of", "score")
        return {
            "key": self.key, "model": self.model, "verdict": self.verdict, "new_class": self.new_class,
            "issue": {k: self.issue.get(k) for k in keep if k in self.issue}, "time": time.time(),
        }


@contextlib.contextmanager
def _review_lock(folder: Path) -> Iterator[None]:
    """Hold the review lock of a dataset folder.

    The lock file lives next to the folder, not in it: the store sweeps files its manifest
    does not list, and a swept lock file would let two writers hold "the" lock at once.
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    if not folder.is_dir():
        raise StoreError(f"dataset folder {folder} no longer exists")
    fd = os.open(folder.parent / f".{folder.name}{_LOCK}", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class ReviewLog:
    """The verdicts of one stored dataset.

    Parameters
    ----------
    stored : StoredDataset
        The dataset; the log is re-read from disk on every call, so several processes
        (and several views of the dataset) see each other's verdicts.
    """

    def __init__(self, stored: Any) -> None:
        self.stored = stored

    def _fresh(self) -> Any:
        from aquaembed.store import Store

        return Store(self.stored.path.parent).open(self.stored.name)

    def _read(self, stored: Any) -> list[dict[str, Any]]:
        if REVIEWS_ARTIFACT not in stored.artifact_names:
            return []
        try:
            doc = orjson.loads(stored.read_artifact_bytes(REVIEWS_ARTIFACT))
        except orjson.JSONDecodeError as exc:
            raise StoreError(f"dataset {stored.name!r}: the review log is not valid JSON ({exc})") from None
        return list(doc.get("verdicts", []))

    def records(self) -> list[dict[str, Any]]:
        """Every verdict ever recorded, oldest first."""
        return self._read(self._fresh())

    def latest(self, model: str | None = None) -> dict[str, dict[str, Any]]:
        """The latest verdict per issue key (of ``model`` only, when given)."""
        out: dict[str, dict[str, Any]] = {}
        for rec in self.records():
            if model is None or rec.get("model") == model:
                out[rec["key"]] = rec
        return out

    def record(self, verdict: Verdict) -> dict[str, Any]:
        """Append a verdict to the stored log (under the review lock) and return its record."""
        rec = verdict.to_json()
        with _review_lock(self.stored.path):
            fresh = self._fresh()
            log = self._read(fresh)
            log.append(rec)
            data = orjson.dumps({"version": 1, "verdicts": log})
            fresh.write_artifact_bytes(REVIEWS_ARTIFACT, data, suffix=".json", replace=True)
        return rec

    def counts(self, model: str | None = None) -> dict[str, int]:
        """``reviewed`` (issues with a verdict other than skip), ``accepted``, ``rejected``, ``skipped``."""
        latest = self.latest(model).values()
        by = {v: sum(1 for r in latest if r["verdict"] == v) for v in VERDICTS}
        return {"reviewed": by["accept"] + by["reject"], "accepted": by["accept"], "rejected": by["reject"], "skipped": by["skip"]}


def apply_fixes(dataset: Dataset, inferences: Inferences, accepted: list[dict[str, Any]]) -> tuple[Dataset, list[dict[str, Any]]]:
    """The dataset with every accepted fix applied, and one flat row per fix.

    Parameters
    ----------
    dataset : Dataset
    inferences : Inferences
        The inference set the issues came from (missing labels copy its boxes).
    accepted : list of dict
        Verdict records (:meth:`Verdict.to_json`) with ``verdict == "accept"``.

    Returns
    -------
    fixed : Dataset
        Same frames and classes; labels fixed (inference sets dropped).
    rows : list of dict
        ``action`` (add / relabel / move / drop), ``kind``, ``image_id``, ``label_id``
        (the new id for an added label), ``pred_index``, ``old_class``, ``new_class``,
        ``bbox`` ``[x, y, w, h]``.
    """
    labels, classes = dataset.labels, dataset.classes
    names = classes.names
    row_of = {int(i): r for r, i in enumerate(labels.id.tolist())}
    cls, box = labels.cls.copy(), labels.box.copy()
    area = labels.area.copy()
    drop = np.zeros(len(labels), dtype=bool)
    rows: list[dict[str, Any]] = []
    adds: list[tuple[int, int]] = []
    for rec in sorted(accepted, key=lambda r: r["key"]):
        issue, kind = rec["issue"], rec["issue"]["kind"]
        want = rec.get("new_class") or issue.get("suggested_class")
        if kind == "missing_label":
            p = int(issue["pred_index"])
            if not 0 <= p < len(inferences):
                raise InputError(f"verdict {rec['key']}: inference {p} is not in the inference set")
            c = classes.index_of_name(want) if want else int(inferences.cls[p])
            adds.append((p, c))
            continue
        lid = int(issue["label_id"])
        if lid not in row_of:
            raise InputError(f"verdict {rec['key']}: label {lid} is not in the dataset")
        r = row_of[lid]
        old = names[int(cls[r])]
        if kind in ("duplicate_label", "spurious_label"):
            drop[r] = True
            action = "drop"
        else:
            if want and want != old:
                cls[r] = classes.index_of_name(want)
            if kind == "bad_location" and issue.get("suggested_box"):
                box[r] = xywh_to_xyxy(np.asarray(issue["suggested_box"], dtype=np.float64)[None])[0]
                area[r] = float((box[r, 2] - box[r, 0]) * (box[r, 3] - box[r, 1]))
            action = "move" if kind == "bad_location" else "relabel"
        rows.append({"action": action, "kind": kind, "label_id": lid, "pred_index": issue.get("pred_index"),
                     "row": r, "old_class": old, "new_class": None if action == "drop" else names[int(cls[r])]})
    keep = ~drop
    next_id = int(labels.id.max()) + 1 if len(labels) else 1
    adds.sort()
    add_p = np.array([p for p, _ in adds], dtype=np.int64)
    add_c = np.array([c for _, c in adds], dtype=np.int64)
    add_box = inferences.box[add_p] if add_p.size else np.zeros((0, 4))
    new_ids = np.arange(next_id, next_id + add_p.size, dtype=np.int64)
    fixed_labels = Labels(
        id=np.concatenate([labels.id[keep], new_ids]),
        frame=np.concatenate([labels.frame[keep], inferences.frame[add_p]]),
        cls=np.concatenate([cls[keep], add_c]),
        box=np.vstack([box[keep], add_box]),
        area=np.concatenate([area[keep], (add_box[:, 2] - add_box[:, 0]) * (add_box[:, 3] - add_box[:, 1])]),
        crowd=np.concatenate([labels.crowd[keep], np.zeros(add_p.size, dtype=bool)]),
    )
    frame_ids = dataset.frames.id
    for row in rows:
        r = row.pop("row")
        b = box[r]
        row["image_id"] = int(frame_ids[labels.frame[r]])
        row["bbox"] = [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]
    for lid, p, c in zip(new_ids.tolist(), add_p.tolist(), add_c.tolist()):
        b = inferences.box[p]
        rows.append({"action": "add", "kind": "missing_label", "label_id": lid, "pred_index": p, "old_class": None,
                     "new_class": names[c], "image_id": int(frame_ids[inferences.frame[p]]),
                     "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    return Dataset(classes, dataset.frames, fixed_labels), rows
