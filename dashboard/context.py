"""What the callbacks share: the workspace, the page state, and server-side caches.

The browser holds only the *state* (dataset, inference set, thresholds, view, colour-by:
the same fields as the URL's query string) and small keys; the arrays stay here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, get_args
from urllib.parse import parse_qs, urlencode

import numpy as np

from aquaembed._typing import MatchMode
from aquaembed.analysis.selection import crop_metadata
from aquaembed.artifacts import CROP_PROJECTION, FRAME_PROJECTION
from aquaembed.dashboard import figures
from aquaembed.dashboard.ids import VIEWS
from aquaembed.explore import DatasetView, LRUCache, Workspace
from aquaembed.matching import DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MODE, MatchOptions

__all__ = ["BUILTIN", "CONF_DEFAULT", "IOU_DEFAULT", "MANY_CLASSES", "MATCH_MODES", "Context", "State", "parse_query"]

CONF_DEFAULT = DEFAULT_CONF
IOU_DEFAULT = DEFAULT_IOU
MANY_CLASSES = 25
"""Above this many classes the report and the matrix become filterable tables."""
MATCH_MODES: tuple[str, ...] = get_args(MatchMode)
BUILTIN = "builtin"
"""The metric control's value for the built-in matching (``State.metric`` is then empty)."""
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class State:
    """The shareable page state (mirrored in the URL's query string).

    The matching options (``conf``, ``iou``, ``mode``, ``class_aware``, ``crowd``) are
    those of :class:`~aquaembed.matching.MatchOptions`; every library call gets them
    through :attr:`options`.
    """

    dataset: str = ""
    model: str = ""
    conf: float = CONF_DEFAULT
    iou: float = IOU_DEFAULT
    view: str = VIEWS[0]
    kind: str = "crop"
    colour: str = "type"
    mode: str = DEFAULT_MODE
    class_aware: bool = False
    crowd: bool = False
    focus: str = ""
    """What the failure report isolated: ``"cluster:<id>"`` or ``"slice:<rank>"`` (see
    :mod:`aquaembed.dashboard.focus`); empty for nothing."""
    metric: str = ""
    """A custom metric of the inference set (``aquaembed add-metric``); empty for the built-in matching."""
    scenario: str = ""
    """A saved scenario every page is restricted to; empty for all frames."""

    @property
    def metric_name(self) -> str | None:
        """``metric=`` of the library calls: None for the built-in matching."""
        return self.metric or None

    @property
    def scenario_name(self) -> str | None:
        """``scenario=`` of the library calls: None for all frames."""
        return self.scenario or None

    @property
    def options(self) -> MatchOptions:
        """The matching options of this state."""
        return MatchOptions(conf=self.conf, iou=self.iou, mode=self.mode,  # type: ignore[arg-type]
                            class_aware=self.class_aware, crowd=self.crowd)

    def matching_label(self) -> str:
        """The matching rule in words, e.g. ``optimal, class-agnostic``."""
        words = [self.mode, "class-aware" if self.class_aware else "class-agnostic"]
        if self.crowd:
            words.append("crowd regions")
        return ", ".join(words)

    def scope_label(self) -> str:
        """What the numbers are of, e.g. ``metric greedy_ca · scenario night_bad``."""
        words = [f"metric {self.metric}" if self.metric else "built-in matching"]
        if self.scenario:
            words.append(f"scenario {self.scenario}")
        return " · ".join(words)

    def to_query(self) -> str:
        q: dict[str, str] = {
            "dataset": self.dataset, "model": self.model, "conf": f"{self.conf:g}", "iou": f"{self.iou:g}",
            "view": self.view, "kind": self.kind, "colour": self.colour,
        }
        # the matching options appear only when they differ from the defaults (short shared URLs)
        if self.mode != DEFAULT_MODE:
            q["mode"] = self.mode
        if self.class_aware:
            q["class_aware"] = "1"
        if self.crowd:
            q["crowd"] = "1"
        if self.focus:
            q["focus"] = self.focus
        if self.metric:
            q["metric"] = self.metric
        if self.scenario:
            q["scenario"] = self.scenario
        return "?" + urlencode(q)

    @classmethod
    def from_query(cls, search: str | None) -> State:
        """Parse a query string; unknown or malformed fields fall back to defaults."""
        return parse_query(search)[0]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_query(search: str | None) -> tuple[State, list[str]]:
    """The state of a query string and a note for every malformed value replaced by its default.

    Returns
    -------
    state : State
        Unknown names (dataset, model, view, ...) are kept as given; :meth:`Context.normalise`
        replaces them.
    notes : list of str
        One phrase per replaced value, e.g. ``"conf=7 is not in [0, 1] (using 0.5)"``.
    """
    q = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?"), keep_blank_values=True).items() if v}
    notes: list[str] = []

    def num(key: str, default: float, low: float) -> float:
        if key not in q:
            return default
        try:
            v = float(q[key])
        except ValueError:
            v = float("nan")
        if not math.isnan(v) and low <= v <= 1.0:
            return v
        notes.append(f"{key}={q[key]} is not a number in [{low:g}, 1] (using {default:g})")
        return default

    def flag(key: str) -> bool:
        raw = q.get(key, "").strip().lower()
        if raw in _TRUE:
            return True
        if raw not in _FALSE:
            notes.append(f"{key}={q[key]} is not true or false (using false)")
        return False

    mode = q.get("mode", DEFAULT_MODE)
    if mode not in MATCH_MODES:
        notes.append(f"mode={mode} is not one of {', '.join(MATCH_MODES)} (using {DEFAULT_MODE})")
        mode = DEFAULT_MODE
    state = State(
        dataset=q.get("dataset", ""), model=q.get("model", ""),
        conf=num("conf", CONF_DEFAULT, 0.0), iou=num("iou", IOU_DEFAULT, 0.01),
        view=q.get("view", VIEWS[0]), kind=q.get("kind", "crop"), colour=q.get("colour", ""),
        mode=mode, class_aware=flag("class_aware"), crowd=flag("crowd"), focus=q.get("focus", ""),
        metric="" if q.get("metric", "") == BUILTIN else q.get("metric", ""), scenario=q.get("scenario", ""),
    )
    return state, notes


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

    def normalise(self, state: State, notes: list[str] | None = None) -> State:
        """A valid state: known dataset and model, thresholds in range, colour fitting the kind.

        When ``notes`` is given, a phrase is appended for every value that was asked for
        (not empty) and had to be replaced, so the page can say what it changed.
        """
        names = self.names()
        if not names:
            return state
        said = notes if notes is not None else []

        def pick(what: str, asked: str, allowed: list[str], default: str) -> str:
            if asked in allowed:
                return asked
            if asked:
                said.append(f"{what} {asked!r} does not exist (showing {default!r})")
            return default

        ds = pick("dataset", state.dataset, names, names[0])
        view = self.view(ds)
        models = view.models()
        model = pick("inference set", state.model, models, models[0] if models else "")
        kinds = self.kinds(view)
        kind = pick("kind", state.kind, kinds, kinds[0] if kinds else "frame")
        allowed = [o["value"] for o in figures.colour_options(kind, self.metadata_fields(view))]
        colour = pick("colour", state.colour, allowed, figures.default_colour(kind))
        view_name = pick("view", state.view, list(VIEWS), VIEWS[0])
        conf = round(min(max(float(state.conf), 0.0), 1.0), 4)
        iou = round(min(max(float(state.iou), 0.01), 1.0), 4)
        mode = state.mode if state.mode in MATCH_MODES else DEFAULT_MODE
        from aquaembed.dashboard.focus import valid_focus

        # (looked up only when asked for: the map's first draw normalises too)
        metric = state.metric if state.metric and model and state.metric in view.custom_metrics(model) else ""
        if state.metric and not metric:
            said.append(f"metric {state.metric!r} does not exist for {model!r} (showing the built-in matching)")
        scenario = state.scenario if state.scenario and state.scenario in view.scenarios() else ""
        if state.scenario and not scenario:
            said.append(f"scenario {state.scenario!r} does not exist (showing all frames)")
        return State(ds, model, conf, iou, view_name, kind, colour, mode, bool(state.class_aware), bool(state.crowd),
                     valid_focus(state.focus), metric, scenario)

    @staticmethod
    def kinds(view: DatasetView) -> list[str]:
        """Projection kinds the dataset has (crops first: they show confusion types)."""
        names = view.stored.artifact_names
        return [kind for kind, art in (("crop", CROP_PROJECTION), ("frame", FRAME_PROJECTION)) if art in names]

    @staticmethod
    def metadata_fields(view: DatasetView) -> list[str]:
        return [*view.dataset.frames.metadata, *view.scalar_columns()]

    def class_names(self, view: DatasetView) -> list[str]:
        return [str(c) for c in view.dataset.classes.names]

    # ------------------------------------------------------------ projections

    def projection(self, state: State) -> dict[str, Any]:
        """The projection of ``state.kind`` at the state's thresholds, with frame metadata
        aligned to its points (crops get the metadata of their frame). Cached."""
        view = self.view(state.dataset)  # the newest generation (a writer may have replaced the dataset)
        metric = state.metric_name if state.kind == "frame" else None  # crops: types of the built-in matching
        key = (state.dataset, view.stored.generation, state.model, state.kind, state.options, metric)

        def compute() -> dict[str, Any]:
            proj = dict(view.projection(state.kind, state.model or None, options=state.options,  # "": no inference set
                                        metric=metric))
            if state.kind == "crop":
                frames = view.dataset.frames
                proj["metadata"] = crop_metadata(proj["frame_id"], frames.metadata, frames.index_of_ids)
                rows = frames.index_of_ids(proj["frame_id"])
            else:
                rows = view.dataset.frames.index_of_ids(proj["ids"])
            # per-frame scalar metrics (aquaembed add-metric) colour the map like metadata fields
            proj["metadata"] = {**proj["metadata"], **{k: v[rows] for k, v in view.scalar_columns().items()}}
            return proj

        return self._proj.get(key, compute)

    def groups(self, state: State, viewport: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], list[figures.Group], bool]:
        """Projection, trace grouping and whether the drawn points are a sample."""
        proj = self.projection(state)
        inside = self.scenario_rows(state, proj)
        if inside is None:
            rows, sampled = figures.visible_rows(proj["x"], proj["y"], max_points=self.max_points, viewport=viewport)
        else:  # only the scenario's frames (and their crops) are drawn
            rows, sampled = figures.visible_rows(np.asarray(proj["x"])[inside], np.asarray(proj["y"])[inside],
                                                 max_points=self.max_points, viewport=viewport)
            rows = inside[rows]
        if state.focus:
            from aquaembed.dashboard.focus import focus_rows

            keep = focus_rows(self, state, proj)
            if keep is not None:
                rows, sampled = (keep if inside is None else np.intersect1d(keep, inside)), False
        groups = figures.embedding_groups(proj, state.colour, class_names=self.class_names(self.view(state.dataset)), rows=rows)
        return proj, groups, sampled

    def scenario_rows(self, state: State, proj: Mapping[str, Any]) -> np.ndarray | None:
        """Projection rows of the scenario's frames (frame map) or of their crops (crop map),
        int64 sorted; None without a scenario."""
        if not state.scenario:
            return None
        view = self.view(state.dataset)
        ids = view.dataset.frames.id[view.frame_restriction(state.scenario)]
        col = proj["frame_id"] if proj.get("kind") == "crop" else proj["ids"]
        return np.flatnonzero(np.isin(np.asarray(col), ids))

    def metrics(self, state: State, *, frames: Any = None, pr: bool = False, coco: bool = False) -> dict[str, Any]:
        """:meth:`DatasetView.metrics` of the state's inference set, options, metric and scenario
        (and frame ids ``frames``, e.g. of a failure-report slice)."""
        return self.view(state.dataset).metrics(state.model, options=state.options, pr=pr, coco=coco,
                                                metric=state.metric_name, scenario=state.scenario_name, frames=frames)

    def preload(self) -> None:
        """Compute what the first page shows (first dataset, default thresholds); errors are ignored."""
        try:
            st = self.normalise(State())
            if not st.dataset:
                return
            self.projection(st)
            view = self.view(st.dataset)
            view.metrics(st.model, options=st.options, pr=False)
            # what the Model metrics tab shows first: PR curves and COCO mAP
            view.metrics(st.model, options=st.options, pr=True, coco=True)
        except Exception:
            return

    # ------------------------------------------------------------ picture URLs

    def frame_url(self, state: State, frame_id: int, *, highlight: tuple[str, int] | None = None, size: int = 480) -> str:
        ds = self.names().index(state.dataset)
        m = self.view(state.dataset).models().index(state.model)
        q: dict[str, Any] = {"m": m, "c": f"{state.conf:g}", "i": f"{state.iou:g}", "s": size}
        for key, on in (("g", state.mode == "greedy"), ("a", state.class_aware), ("w", state.crowd)):
            if on:
                q[key] = 1
        if highlight is not None:
            q["hs"] = 0 if highlight[0] == "label" else 1
            q["hi"] = int(highlight[1])
        return f"{self.base}_thumb/frame/{ds}/{int(frame_id)}.jpg?{urlencode(q)}"

    def crop_url(self, state: State, source: str, crop_id: int, *, size: int = 128) -> str:
        ds = self.names().index(state.dataset)
        m = self.view(state.dataset).models().index(state.model)
        src = 0 if source == "label" else 1
        return f"{self.base}_thumb/crop/{ds}/{src}/{int(crop_id)}.jpg?m={m}&s={size}"
