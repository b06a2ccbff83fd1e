"""Embedding files: ``.npz`` (``ids``, ``embeddings``) or Parquet (``id``, ``embedding``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aquaembed.errors import InputError
from aquaembed.io.limits import check_budget

__all__ = ["read_embeddings"]


def _check_npz(path: Path, name: str) -> None:
    """Refuse an ``.npz`` whose arrays declare more memory than is left (a zip bomb), unexpanded.

    The zip directory declares each member's size; each ``.npy`` header its shape and
    dtype. Both are read without decompressing more than the header.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            total = 0
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                n = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if n > info.file_size:
                    raise InputError(f"{name}: {info.filename} declares {n} bytes of data but holds {info.file_size}")
                total += max(n, info.file_size)
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{name}: not a readable .npz ({' '.join(str(exc).split())})") from None
    check_budget(name, 2 * total, "its arrays would take")  # the arrays, and float32 copies


def read_embeddings(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read an embeddings file.

    Parameters
    ----------
    path : path
        ``.npz`` with arrays ``ids`` (n,) and ``embeddings`` (n, d), or ``.parquet``
        with columns ``id`` and ``embedding`` (a list of floats per row).

    Returns
    -------
    ids : int64 array, shape (n,)
    vectors : float32 array, shape (n, d)

    Raises
    ------
    InputError
        Unreadable file, missing arrays/columns, ragged or non-numeric vectors.
    """
    p = Path(path)
    name = p.name
    if not p.is_file():
        raise InputError(f"{name}: no such file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npz":
            _check_npz(p, name)
            with np.load(p, allow_pickle=False) as z:
                missing = {"ids", "embeddings"} - set(z.files)
                if missing:
                    raise InputError(f"{name}: expected arrays 'ids' and 'embeddings', missing {', '.join(sorted(missing))}")
                ids, vectors = z["ids"], z["embeddings"]
        elif suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(p).metadata
            declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            check_budget(name, 3 * declared, "its row groups would take")
            table = pq.read_table(p)
            missing = {"id", "embedding"} - set(table.column_names)
            if missing:
                raise InputError(f"{name}: expected columns 'id' and 'embedding', missing {', '.join(sorted(missing))}")
            ids = table.column("id").to_numpy()
            col = table.column("embedding").combine_chunks()
            lengths = np.asarray(col.value_lengths()) if hasattr(col, "value_lengths") else None
            if lengths is None:
                raise InputError(f"{name}: column 'embedding' must hold lists of floats")
            if lengths.size and (lengths != lengths[0]).any():
                bad = int(np.flatnonzero(lengths != lengths[0])[0])
                raise InputError(f"{name}: mixed dimensions: row {bad} has {int(lengths[bad])} values, row 0 has {int(lengths[0])}")
            if col.null_count:
                raise InputError(f"{name}: column 'embedding' has missing rows")
            flat = col.flatten().to_numpy(zero_copy_only=False)
            vectors = flat.reshape(len(col), int(lengths[0]) if lengths.size else 0)
        else:
            raise InputError(f"{name}: expected a .npz or .parquet embeddings file")
    except InputError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{name}: cannot read embeddings ({exc})") from None
    except Exception as exc:  # pyarrow raises its own error types
        raise InputError(f"{name}: cannot read embeddings ({type(exc).__name__}: {exc})") from None
    ids = np.asarray(ids)
    vectors = np.asarray(vectors)
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise InputError(f"{name}: ids must be a 1-d array of integers, got {ids.dtype} of shape {ids.shape}")
    if vectors.dtype == object or vectors.dtype.kind not in "fiu":
        raise InputError(f"{name}: embeddings must be numbers (all rows of one dimension), got dtype {vectors.dtype}")
    if vectors.ndim != 2:
        raise InputError(f"{name}: embeddings must be a 2-d array (n, d), got shape {vectors.shape}")
    if vectors.shape[0] != ids.shape[0]:
        raise InputError(f"{name}: {ids.shape[0]} ids but {vectors.shape[0]} embeddings")
    with np.errstate(over="ignore", invalid="ignore"):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise InputError(f"{name}: the embedding of id {int(ids[bad])} (row {bad}) has a NaN or infinite value")
    return ids.astype(np.int64), vectors


