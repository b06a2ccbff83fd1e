"""What the callbacks share: the workspace, the page state, and server-side caches.

The browser holds only the *state* (dataset, inference set, thresholds, view, colour-by:
the same fields as the URL's query string) and small keys; the arrays stay here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping
from urllib.parse import parse_qs, urlencode

import numpy as np

from aquaembed.matching import MatchOptions
from aquaembed.explore import DatasetView, LRUCache, Workspace
from aquaembed.artifacts import CROP_PROJECTION, FRAME_PROJECTION

from aquaembed.dashboard import figures
from aquaembed.dashboard.ids import VIEWS

__all__ = ["State", "Context", "CONF_DEFAULT", "IOU_DEFAULT", "MANY_CLASSES"]

CONF_DEFAULT = 0.5
IOU_DEFAULT = 0.5
MANY_CLASSES = 25
"""Above this many classes the report and the matrix become filterable tables."""


@dataclass(frozen=True)
class State:
    """The shareable page state (mirrored in the URL's query string)."""

    dataset: str = ""
    model: str = ""
    conf: float = CONF_DEFAULT
    iou: float = IOU_DEFAULT
    view: str = VIEWS[0]
    kind: str = "crop"
    colour: str = "type"

    @property
    def options(self) -> MatchOptions:
        """The matching options of this state."""
        return MatchOptions(conf=self.conf, iou=self.iou)

    def to_query(self) -> str:
        return "?" + urlencode({
            "dataset": self.dataset, "model": self.model, "conf": f"{self.conf:g}", "iou": f"{self.iou:g}",
            "view": self.view, "kind": self.kind, "colour": self.colour,
        })

    @classmethod
    def from_query(cls, search: str | None) -> "State":
        """Parse a query string; unknown or malformed fields fall back to defaults."""
        q = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items() if v}
        base = cls()

        def num(key: str, default: float) -> float:
            try:
                v = float(q[key])
            except (KeyError, ValueError):
                return default
            return v if 0.0 <= v <= 1.0 else default

        return replace(
            base,
            dataset=q.get("dataset", ""), model=q.get("model", ""),
            conf=num("conf", CONF_DEFAULT), iou=num("iou", IOU_DEFAULT),
            view=q.get("view", base.view), kind=q.get("kind", base.kind), colour=q.get("colour", ""),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Context:
    """The workspace and the caches behind one Dash app.

    Parameters
    ----------
    workspace : Workspace
    base : str
        The app's URL prefix (``url_base_pathname``), ending with ``/``.
    max_points : int
        Most points of the embedding scatter sent at once; beyond, the overview is a
        sample and zooming in shows every point of the zoomed region (up to this many).
    """

    def __init__(self, workspace: Workspace, *, base: str = "/", max_points: int = 300_000) -> None:
        self.workspace = workspace
        self.base = base
        self.max_points = max_points
        self._proj = LRUCache(8)

    # ------------------------------------------------------------ datasets

    def names(self) -> list[str]:
        return self.workspace.names()

    def view(self, name: str) -> DatasetView:
        return self.workspace.get(name)

    def normalise(self, state: State) -> State:
        """A valid state: known dataset and model, thresholds in range, colour fitting the kind."""
        names = self.names()
        if not names:
            return state
        ds = state.dataset if state.dataset in names else names[0]
        view = self.view(ds)
        models = view.models()
        model = state.model if state.model in models else (models[0] if models else "")
        kinds = self.kinds(view)
        kind = state.kind if state.kind in kinds else (kinds[0] if kinds else "frame")
        allowed = [o["value"] for o in figures.colour_options(kind, self.metadata_fields(view))]
        colour = state.colour if state.colour in allowed else figures.default_colour(kind)
        view_name = state.view if state.view in VIEWS else VIEWS[0]
        conf = round(min(max(float(state.conf), 0.0), 1.0), 4)
        iou = round(min(max(float(state.iou), 0.01), 1.0), 4)
        return State(ds, model, conf, iou, view_name, kind, colour)

    @staticmethod
    def kinds(view: DatasetView) -> list[str]:
        """Projection kinds the dataset has (crops first: they show confusion types)."""
        names = view.stored.artifact_names
        return [kind for kind, art in (("crop", CROP_PROJECTION), ("frame", FRAME_PROJECTION)) if art in names]

    @staticmethod
    def metadata_fields(view: DatasetView) -> list[str]:
        return list(view.dataset.frames.metadata)

    def class_names(self, view: DatasetView) -> list[str]:
        return [str(c) for c in view.dataset.classes.names]

    # ------------------------------------------------------------ projections

    def projection(self, state: State) -> dict[str, Any]:
        """The projection of ``state.kind`` at the state's thresholds, with frame metadata
        aligned to its points (crops get the metadata of their frame). Cached."""
        key = (state.dataset, state.model, state.kind, state.options)

        def compute() -> dict[str, Any]:
            view = self.view(state.dataset)
            proj = dict(view.projection(state.kind, state.model, options=state.options))
            if state.kind == "crop":
                rows = view.dataset.frames.index_of_ids(np.asarray(proj["frame_id"]))
                proj["metadata"] = {k: np.asarray(v)[rows] for k, v in view.dataset.frames.metadata.items()}
            return proj

        return self._proj.get(key, compute)

    def groups(self, state: State, viewport: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], list[figures.Group], bool]:
        """Projection, trace grouping and whether the drawn points are a sample."""
        proj = self.projection(state)
        rows, sampled = figures.visible_rows(proj["x"], proj["y"], max_points=self.max_points, viewport=viewport)
        groups = figures.embedding_groups(proj, state.colour, class_names=self.class_names(self.view(state.dataset)), rows=rows)
        return proj, groups, sampled

    def preload(self) -> None:
        """Compute what the first page shows (first dataset, default thresholds); errors are ignored."""
        try:
            st = self.normalise(State())
            if not st.dataset:
                return
            self.projection(st)
            self.view(st.dataset).metrics(st.model, options=st.options, pr=False)
        except Exception:  # noqa: BLE001 - a warm-up must never take the server down
            return

    # ------------------------------------------------------------ picture URLs

    def frame_url(self, state: State, frame_id: int, *, highlight: tuple[str, int] | None = None, size: int = 480) -> str:
        ds = self.names().index(state.dataset)
        m = self.view(state.dataset).models().index(state.model)
        q: dict[str, Any] = {"m": m, "c": f"{state.conf:g}", "i": f"{state.iou:g}", "s": size}
        if highlight is not None:
            q["hs"] = 0 if highlight[0] == "label" else 1
            q["hi"] = int(highlight[1])
        return f"{self.base}_thumb/frame/{ds}/{int(frame_id)}.jpg?{urlencode(q)}"

    def crop_url(self, state: State, source: str, crop_id: int, *, size: int = 128) -> str:
        ds = self.names().index(state.dataset)
        m = self.view(state.dataset).models().index(state.model)
        src = 0 if source == "label" else 1
        return f"{self.base}_thumb/crop/{ds}/{src}/{int(crop_id)}.jpg?m={m}&s={size}"
