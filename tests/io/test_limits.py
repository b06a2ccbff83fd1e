"""Inputs that would blow up memory are refused from their declared sizes, before expansion."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from aquaembed.cli import main
from aquaembed.errors import InputError
from aquaembed.io.coco import load_coco_gt
from aquaembed.io.embeddings import read_embeddings
from aquaembed.io.limits import memory_budget


def _bomb(path: Path, n_bytes: int, *, declared_rows: int | None = None) -> Path:
    """An .npz whose ``ids.npy`` holds ``n_bytes`` of zeros (deflated to almost nothing)."""
    rows = declared_rows if declared_rows is not None else n_bytes // 8
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("ids.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<i8", "fortran_order": False, "shape": (rows,)})
            for _ in range(n_bytes // (1 << 22)):
                f.write(bytes(1 << 22))
        small = io.BytesIO()
        np.lib.format.write_array(small, np.ones((1, 2), np.float32))
        z.writestr("embeddings.npy", small.getvalue())
    return path


def test_zip_bomb_npz_is_refused_from_its_declared_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = _bomb(tmp_path / "bomb.npz", 64 << 20)
    assert bomb.stat().st_size < 1 << 20  # ~64 MB declared, a fraction of a MB on disk
    monkeypatch.setenv("AQUAEMBED_MEMORY_LIMIT", str(32 << 20))
    with pytest.raises(InputError, match=r"bomb.npz: its arrays would take 134.2 MB of memory, more than the 33.6 MB"):
        read_embeddings(bomb)
    liar = _bomb(tmp_path / "liar.npz", 4 << 20, declared_rows=10**12)  # a header claiming 8 TB
    with pytest.raises(InputError, match="declares 8000000000000 bytes of data but holds"):
        read_embeddings(liar)


def test_large_json_is_refused_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    numbers = tmp_path / "gt.json"
    numbers.write_text(json.dumps({"images": [], "annotations": [], "categories": [], "x": list(range(400_000))}))
    size = numbers.stat().st_size
    monkeypatch.setenv("AQUAEMBED_MEMORY_LIMIT", str(size * 4))
    with pytest.raises(InputError, match=rf"gt.json: {size} bytes of JSON would take about .* of memory, more than"):
        load_coco_gt(numbers)
    assert main(["evaluate", "--gt", str(numbers), "--pred", str(numbers)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refused before reading it" in err[0]
    monkeypatch.delenv("AQUAEMBED_MEMORY_LIMIT")
    budget = memory_budget()
    assert budget is None or budget > size * 12  # without the limit the same file is read
    load_coco_gt(numbers)
