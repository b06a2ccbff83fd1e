"""Scenarios: named sets of frames saved in a dataset, and their export as COCO files.

A scenario comes from a lasso or a list of frame ids, a filter expression (see
:mod:`aquaembed.analysis.expression`), a cluster or a slice; it is stored as its frame
ids (so it does not move when thresholds do) together with where it came from. All
scenarios of a dataset live in one small JSON artefact, ``scenarios``, written
atomically through :class:`ScenarioStore` only; everything is validated before the
write.

:func:`export_scenario` writes ``gt.json`` and ``<model>.json`` per inference set for
the scenario's frames (original image, annotation and category ids kept) that
``aquaembed evaluate`` reads back with the same numbers as the scenario's metrics.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from aquaembed.data import Dataset, Frames, Inferences, Labels
from aquaembed.errors import InputError, NotFoundError, ParameterError, StoreError
from aquaembed.store import StoredDataset

__all__ = ["ScenarioStore", "SCENARIO_SOURCES", "subset", "export_scenario", "read_frame_ids"]

ARTIFACT = "scenarios"
SCENARIO_SOURCES = ("frames", "lasso", "where", "cluster", "slice")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_. -]{0,63}")


def check_scenario_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name != name.strip():
        raise ParameterError(
            f"scenario: a name of letters, digits, '_', '-', '.' or spaces (at most 64), got {name!r}",
            parameter="scenario",
        )
    return name


class ScenarioStore:
    """The scenarios of one stored dataset."""

    def __init__(self, stored: StoredDataset) -> None:
        self.stored = stored

    def _current(self) -> StoredDataset:
        """The dataset as it is on disk now (another process may have saved a scenario)."""
        from aquaembed.store import Store

        return Store(self.stored.path.parent).open(self.stored.name)

    def _read(self) -> dict[str, dict[str, Any]]:
        current = self._current()
        if ARTIFACT not in current.artifact_names:
            return {}
        doc = orjson.loads(current.read_artifact_bytes(ARTIFACT))
        return dict(doc.get("scenarios", {}))

    def list(self) -> dict[str, dict[str, Any]]:
        """``{name: {"frames": n, "source": .., "where": ..}}`` in name order."""
        return {
            k: {"frames": len(v["frames"]), "source": v.get("source"), "where": v.get("where")}
            for k, v in sorted(self._read().items())
        }

    def frame_ids(self, name: str) -> np.ndarray:
        """The scenario's frame ids (int64, sorted)."""
        sc = self._read().get(name)
        if sc is None:
            known = ", ".join(sorted(self._read())) or "none"
            raise NotFoundError(f"scenario: dataset {self.stored.name!r} has no scenario {name!r}; known: {known}",
                                parameter="scenario")
        return np.asarray(sc["frames"], dtype=np.int64)

    def frame_rows(self, name: str) -> np.ndarray:
        """The scenario's frames as a bool mask over frame rows, shape (F,)."""
        frames = self.stored.dataset.frames
        mask = np.zeros(len(frames), dtype=bool)
        rows = frames.index_of_ids(self.frame_ids(name))
        mask[rows[rows >= 0]] = True
        return mask

    def save(self, name: str, frame_ids: Any, *, source: str = "frames", where: str | None = None,
             replace: bool = False) -> int:
        """Save a scenario; returns its number of frames.

        Raises
        ------
        ParameterError
            A bad name or source, an empty set, an unknown frame id; or the name is taken
            (without ``replace``).
        """
        check_scenario_name(name)
        if source not in SCENARIO_SOURCES:
            raise ParameterError(f"source must be one of {', '.join(SCENARIO_SOURCES)}, got {source!r}",
                                 parameter="source")
        ids = _int_ids(frame_ids)
        frames = self.stored.dataset.frames
        rows = frames.index_of_ids(ids)
        if (rows < 0).any():
            raise ParameterError(f"frames: unknown frame id {int(ids[np.flatnonzero(rows < 0)[0]])}",
                                 parameter="frames")
        ids = np.unique(ids)
        if ids.size == 0:
            raise ParameterError(f"scenario {name!r}: selects no frames", parameter="frames")
        with self.stored.transaction():  # the writer lock: a concurrent save or delete is not lost
            current = self._read()
            if name in current and not replace:
                raise ParameterError(f"scenario {name!r} exists; delete it first or replace it", parameter="scenario")
            current[name] = {"frames": ids.tolist(), "source": source, "where": where}
            self._write(current)
        return int(ids.size)

    def delete(self, name: str) -> None:
        with self.stored.transaction():
            current = self._read()
            if name not in current:
                raise NotFoundError(f"scenario: dataset {self.stored.name!r} has no scenario {name!r}",
                                    parameter="scenario")
            del current[name]
            self._write(current)

    def _write(self, scenarios: dict[str, Any]) -> None:
        data = orjson.dumps({"version": 1, "scenarios": scenarios})
        # the artefact API re-reads the manifest under the dataset's lock before it commits
        self.stored.write_artifact_bytes(ARTIFACT, data, suffix=".json", replace=True)


def _int_ids(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ParameterError("frames: expected a list of frame ids", parameter="frames")
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iu" and not (
        arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(np.mod(arr, 1) == 0)
    ):
        raise ParameterError("frames: frame ids must be integers", parameter="frames")
    return arr.astype(np.int64)


def read_frame_ids(path: str | Path) -> np.ndarray:
    """Frame ids from a text file: one integer per line (blank lines and ``#`` comments skipped)."""
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p.name}: cannot read ({exc})") from None
    out = []
    for i, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not re.fullmatch(r"-?\d{1,18}", text):
            raise InputError(f"{p.name}: line {i}: expected a frame id, got {text!r}")
        out.append(int(text))
    return np.asarray(out, dtype=np.int64)


# --------------------------------------------------------------------------- export


def subset(dataset: Dataset, mask: np.ndarray) -> Dataset:
    """The frames of ``mask`` (bool, shape (F,)) with their labels and inferences; ids kept.

    Inferences keep their relative order (an inference's position in the subset's
    results file is its rank among the kept ones).
    """
    mask = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(mask)
    new_row = np.full(mask.size, -1, dtype=np.int64)
    new_row[rows] = np.arange(rows.size)
    fr = dataset.frames
    frames = Frames(fr.id[rows], fr.file_name[rows], fr.width[rows], fr.height[rows],
                    {k: np.asarray(v)[rows] for k, v in fr.metadata.items()})
    lab = dataset.labels
    keep = mask[lab.frame]
    labels = Labels(lab.id[keep], new_row[lab.frame[keep]], lab.cls[keep], lab.box[keep], lab.area[keep],
                    lab.crowd[keep])
    sets = {}
    for name, inf in dict(dataset.inferences).items():
        k = mask[inf.frame]
        sets[name] = Inferences(new_row[inf.frame[k]], inf.cls[k], inf.box[k], inf.score[k], name=name)
    return Dataset(dataset.classes, frames, labels, sets)


def export_scenario(dataset: Dataset, mask: np.ndarray, out_dir: str | Path) -> list[Path]:
    """Write ``gt.json`` and ``<model>.json`` per inference set for the frames of ``mask``.

    The folder is created (it must not exist, or be empty); the files are written to a
    temporary folder beside it first, so a failure leaves nothing behind.

    Returns
    -------
    list of Path
        The files written.
    """
    from aquaembed.io.coco import write_coco_gt, write_coco_results

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ParameterError(f"--out: {out} exists and is not an empty folder", parameter="out")
    for name in dict(dataset.inferences):
        if name == "gt" or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ParameterError(f"inference set {name!r} cannot be written as a file name", parameter="model")
    sub = subset(dataset, mask)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ParameterError(f"--out: the folder {str(parent)!r} does not exist", parameter="out")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        write_coco_gt(sub, tmp / "gt.json")
        for name, inf in dict(sub.inferences).items():
            write_coco_results(inf, sub, tmp / f"{name}.json")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StoreError(f"--out: cannot write {out} ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(out.iterdir())
