"""The match table as a file: Parquet or CSV, for pandas, polars and DuckDB.

One row per row of the :class:`~aquaembed.matching.MatchTable` (a matched pair, an
unmatched label or an unmatched kept inference), with the contract's ids and names
and the boxes, so that every number of a report can be recomputed from the file::

    image_id, gt_id, pred_index, gt_class, pred_class, type, iou, score,
    gt_x1, gt_y1, gt_x2, gt_y2, pred_x1, pred_y1, pred_x2, pred_y2, gt_area, pred_area

``gt_id`` / ``pred_index`` are null where the row has no label / inference; classes
are ``"background"`` there; ``iou`` is null for an unmatched row, ``score`` for a row
without an inference. The table's options are stored in the Parquet schema metadata
(``aquaembed.options``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TypeAlias

import numpy as np
import pyarrow as pa

from aquaembed.data import Dataset, Inferences
from aquaembed.errors import ParameterError, StoreError
from aquaembed.matching import TYPE_NAMES, MatchTable
from aquaembed.store.atomic import atomic_write

__all__ = ["check_table_path", "match_table_arrow", "write_match_table"]

StrPath: TypeAlias = "str | os.PathLike[str]"


def _masked(values: np.ndarray, missing: np.ndarray, type_: pa.DataType) -> pa.Array:
    return pa.array(values, type=type_, mask=missing)


def match_table_arrow(dataset: Dataset, inferences: Inferences, table: MatchTable) -> pa.Table:
    """The match table as an Arrow table with ids, class names, types and boxes.

    Parameters
    ----------
    dataset : Dataset
        The ground truth the table was matched on.
    inferences : Inferences
        The inference set it was matched with.
    table : MatchTable
        R rows.

    Returns
    -------
    pyarrow.Table
        R rows, the columns listed in the module docstring.
    """
    names = np.asarray(dataset.classes.names_with_background, dtype=object)
    has_label, has_pred = table.label >= 0, table.pred >= 0
    label = np.maximum(table.label, 0)
    pred = np.maximum(table.pred, 0)
    label_ids = dataset.labels.id[label] if len(dataset.labels) else np.zeros(len(table), np.int64)
    gt_box = dataset.labels.box[label] if len(dataset.labels) else np.zeros((len(table), 4))
    pred_box = inferences.box[pred] if len(inferences) else np.zeros((len(table), 4))
    type_names = np.asarray(TYPE_NAMES, dtype=object)[table.type]
    cols: dict[str, pa.Array] = {
        "image_id": pa.array(dataset.frames.id[table.frame], type=pa.int64()),
        "gt_id": _masked(label_ids, ~has_label, pa.int64()),
        "pred_index": _masked(table.pred, ~has_pred, pa.int64()),
        "gt_class": pa.array(names[table.label_class].tolist(), type=pa.string()),
        "pred_class": pa.array(names[table.pred_class].tolist(), type=pa.string()),
        "type": pa.array(type_names.tolist(), type=pa.string()),
        "iou": _masked(table.iou, np.isnan(table.iou), pa.float64()),
        "score": _masked(table.score, np.isnan(table.score), pa.float64()),
    }
    for j, c in enumerate(("x1", "y1", "x2", "y2")):
        cols[f"gt_{c}"] = _masked(gt_box[:, j], ~has_label, pa.float64())
    for j, c in enumerate(("x1", "y1", "x2", "y2")):
        cols[f"pred_{c}"] = _masked(pred_box[:, j], ~has_pred, pa.float64())
    cols["gt_area"] = _masked(table.label_area, np.isnan(table.label_area), pa.float64())
    cols["pred_area"] = _masked(table.pred_area, np.isnan(table.pred_area), pa.float64())
    options = json.dumps(asdict(table.options))
    return pa.table(cols).replace_schema_metadata({"aquaembed.options": options})


def check_table_path(path: StrPath) -> Path:
    """``path`` if it names a ``.parquet`` or ``.csv`` file in an existing folder.

    Raises
    ------
    ParameterError
        Another suffix, or a folder that does not exist.
    """
    path = Path(path)
    if path.suffix.lower() not in (".parquet", ".csv"):
        raise ParameterError(f"--table: expected a .parquet or .csv file name, got {os.fspath(path)!r}", parameter="table")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ParameterError(f"--table: the folder {os.fspath(directory)!r} does not exist", parameter="table")
    return path


def write_match_table(dataset: Dataset, inferences: Inferences, table: MatchTable, path: StrPath) -> None:
    """Write the match table to ``path`` (``.parquet`` or ``.csv``), atomically.

    Raises
    ------
    ParameterError
        Another suffix, or a folder that does not exist.
    StoreError
        The file cannot be written.
    """
    path = check_table_path(path)
    suffix = path.suffix.lower()
    arrow = match_table_arrow(dataset, inferences, table)

    def write(tmp: Path) -> None:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(arrow, tmp)
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(arrow, tmp)

    try:
        atomic_write(path, write)
    except OSError as exc:
        raise StoreError(f"{os.fspath(path)}: cannot write the file ({exc.strerror or type(exc).__name__})") from None
