"""The typed manifest of a dataset folder: what it contains, read by attribute.

On disk the manifest is ``manifest.json`` (JSON object, layout below); in memory it is a
:class:`Manifest`. File records (``tables``, ``inferences``, ``embeddings``,
``artifacts`` and any ``sections`` entry) are small JSON mappings holding at least
``file`` (relative path), ``sha256`` and ``bytes``.

``schema_version``, ``name``, ``created``/``updated`` (UTC, ISO 8601), ``generation``
(incremented by every commit), ``source`` (provenance given at create), ``counts``
(frames, labels, classes, rows per inference set), ``classes`` (``ids``, ``names``),
``frame_metadata`` (name and numpy dtype of each metadata column, in order),
``tables`` and ``inferences`` (per file: ``file``, ``sha256``, ``bytes``, ``rows``),
``embeddings`` (per kind: ``n``, ``dim``, ``vectors`` and ``ids`` file records,
``source``), ``artifacts`` (per name: file record, ``kind`` (``file``, ``dir`` or
``array``), ``inputs``: the content hashes and parameters it was computed from) and
``sections`` (per writer, e.g. review verdicts or scenarios: name -> file record).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aquaembed.errors import StoreError
from aquaembed.store.atomic import one_line

__all__ = ["MANIFEST", "SCHEMA_VERSION", "ClassList", "Counts", "Manifest", "read_manifest"]

SCHEMA_VERSION = 1
"""Version of the on-disk layout this package writes and the newest it reads."""

MANIFEST = "manifest.json"
_FILE_PART_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


@dataclass
class Counts:
    """Row counts: frames, labels, classes, and rows per inference set."""

    frames: int
    labels: int
    classes: int
    inferences: dict[str, int] = field(default_factory=dict)


@dataclass
class ClassList:
    """The classes in index order: external ids and names."""

    ids: list[int]
    names: list[str]


@dataclass
class Manifest:
    """What one committed generation of a dataset folder holds.

    Mutable only inside a transaction (which works on a copy); a
    :class:`~aquaembed.store.StoredDataset` hands out copies.
    """

    name: str
    generation: int
    counts: Counts
    classes: ClassList
    frame_metadata: list[dict[str, str]] = field(default_factory=list)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    inferences: dict[str, dict[str, Any]] = field(default_factory=dict)
    embeddings: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    sections: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    created: str | None = None
    updated: str | None = None
    schema_version: int = SCHEMA_VERSION

    def copy(self) -> Manifest:
        """A deep copy."""
        return copy.deepcopy(self)

    def to_json(self) -> dict[str, Any]:
        """The manifest as the JSON object written to disk."""
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "name": self.name,
            "created": self.created,
            "updated": self.updated,
            "generation": self.generation,
            "source": self.source,
            "counts": {
                "frames": self.counts.frames,
                "labels": self.counts.labels,
                "classes": self.counts.classes,
                "inferences": self.counts.inferences,
            },
            "classes": {"ids": self.classes.ids, "names": self.classes.names},
            "frame_metadata": self.frame_metadata,
            "tables": self.tables,
            "inferences": self.inferences,
            "embeddings": self.embeddings,
            "artifacts": self.artifacts,
        }
        if self.sections:
            out["sections"] = self.sections
        return copy.deepcopy(out)

    def records(self) -> list[dict[str, Any]]:
        """Every file record (embeddings contribute their vectors and ids)."""
        recs = [*self.tables.values(), *self.inferences.values(), *self.artifacts.values()]
        for emb in self.embeddings.values():
            recs += [emb["vectors"], emb["ids"]]
        for section in self.sections.values():
            recs += [rec for rec in section.values() if isinstance(rec, dict) and "file" in rec]
        return recs

    def referenced(self) -> set[str]:
        """Relative paths of every file and directory the manifest lists."""
        return {rec["file"] for rec in self.records()}

    def sha256_of(self, rel: str) -> str:
        """The recorded sha256 of a listed file."""
        return next(r["sha256"] for r in self.records() if r["file"] == rel)

    @classmethod
    def from_json(cls, obj: Any, *, where: str) -> Manifest:
        """Validate and type a manifest JSON object; ``where`` names it in errors (one line)."""
        if not isinstance(obj, dict):
            raise StoreError(f"{where} must hold a JSON object")
        version = obj.get("schema_version")
        if obj.get("layout") == "sharded":  # the sharded layout is read by aquaembed.store.shards
            name = obj.get("name", "?")
            raise StoreError(f"dataset {name!r} is in the sharded layout: open it with Store.open_sharded({name!r})")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise StoreError(f"{where} has no valid schema_version (got {version!r})")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{where}: schema version {version} is newer than this aquaembed reads ({SCHEMA_VERSION}); upgrade aquaembed"
            )
        shape = {
            "counts": dict, "classes": dict, "frame_metadata": list, "tables": dict, "inferences": dict,
            "embeddings": dict, "artifacts": dict, "generation": int,
        }
        for key, typ in shape.items():
            if not isinstance(obj.get(key), typ):
                raise StoreError(f"{where} lacks a valid {key!r} entry")
        for table in ("frames", "labels"):
            if not isinstance(obj["tables"].get(table), dict):
                raise StoreError(f"{where} does not list the {table} table")
        try:
            c, k = obj["counts"], obj["classes"]
            manifest = cls(
                name=str(obj.get("name", "")),
                generation=int(obj["generation"]),
                counts=Counts(int(c["frames"]), int(c["labels"]), int(c["classes"]), dict(c.get("inferences", {}))),
                classes=ClassList(list(k["ids"]), list(k["names"])),
                frame_metadata=list(obj["frame_metadata"]),
                tables=obj["tables"], inferences=obj["inferences"], embeddings=obj["embeddings"],
                artifacts=obj["artifacts"], sections=dict(obj.get("sections") or {}),
                source=dict(obj.get("source") or {}), created=obj.get("created"), updated=obj.get("updated"),
                schema_version=version,
            )
            files = manifest.referenced()
        except (KeyError, TypeError, AttributeError, ValueError):
            raise StoreError(f"{where} has a malformed file entry") from None
        for rel in files:
            parts = rel.split("/") if isinstance(rel, str) else [""]
            if not all(_FILE_PART_RE.fullmatch(part) for part in parts):
                raise StoreError(f"{where} lists a file outside the dataset folder: {rel!r}")
        return manifest


def read_manifest(folder: Path, name: str, path: Path | None = None) -> Manifest:
    """Read and validate ``folder/manifest.json`` (or ``path``) of dataset ``name``.

    Raises
    ------
    StoreError
        Missing, unreadable, not JSON, of a newer schema version, or malformed (one line).
    """
    path = folder / MANIFEST if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"dataset {name!r}: {path} is missing (an interrupted create?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"dataset {name!r}: cannot read {path}: {one_line(exc)}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(f"dataset {name!r}: {path} is not valid JSON ({one_line(exc)})") from None
    return Manifest.from_json(obj, where=f"dataset {name!r}: {path}")
