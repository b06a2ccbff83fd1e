"""Custom metrics, per-frame scalars and scenarios of a stored dataset (a part of
:class:`~aquaembed.explore.DatasetView`).

:meth:`frame_matrices` is where every metric view starts: the per-frame confusion
matrices of the built-in matching (``metric=None``) or of a custom metric, optionally
restricted to a scenario.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from aquaembed.analysis.custom_metrics import CustomMetricStore, load_plugin, run_plugin
from aquaembed.analysis.expression import evaluate_expression
from aquaembed.analysis.scenarios import ScenarioStore
from aquaembed.errors import AquaembedError, NotFoundError, ParameterError
from aquaembed.explore.base import ViewBase
from aquaembed.matching import MatchOptions
from aquaembed.metrics import FrameMatrices

__all__ = ["CustomPart", "BUILTIN_METRIC"]

BUILTIN_METRIC = "builtin"
"""The name of the built-in matching where a metric is chosen (also ``None``)."""


class CustomPart(ViewBase):
    """Per-frame matrices from either source, scalar columns, scenarios."""

    def _custom_state(self) -> dict[str, Any]:
        with self._lock:
            if not hasattr(self, "_custom"):
                self._custom = {"progress": {}, "errors": {}, "lock": threading.Lock()}
            return self._custom

    def custom_metrics(self, model: str | None = None) -> dict[str, dict[str, Any]]:
        """The custom metrics stored (of inference set ``model`` if given)."""
        return CustomMetricStore(self.stored).names(None if model is None else self.model(model))

    def frame_matrices(
        self, model: str | None = None, options: MatchOptions | None = None, metric: str | None = None
    ) -> FrameMatrices:
        """Per-frame confusion matrices of the built-in matching or of custom metric ``metric``.

        A plugin metric is run at ``options`` (cached per options); a matrix metric does
        not depend on the options. A dataset without inference sets has the matrices of
        an empty one (every label a miss).
        """
        model = self.resolve(model)
        options = MatchOptions() if options is None else options
        if metric is None or metric == BUILTIN_METRIC:
            table = self.table(model, options)
            return self._derived.get(("fm", model, options), lambda: FrameMatrices.from_table(table))
        if model is None:
            raise NotFoundError(f"metric: dataset {self.name!r} has no inference sets, so no custom metric {metric!r}")
        cms = CustomMetricStore(self.stored)
        kind = cms.kind(model, metric)
        if kind == "matrices":
            return self._derived.get(("fm-custom", model, metric), lambda: FrameMatrices.from_stack(cms.matrices(model, metric)))
        spec = cms.plugin(model, metric)

        def run() -> FrameMatrices:
            state = self._custom_state()
            key = f"{model}:{metric}"

            def progress(done: int, total: int) -> None:
                state["progress"][key] = (done, total, options)

            progress(0, len(self.dataset.frames))
            state["errors"].pop(key, None)
            with state["lock"]:
                try:
                    stack = run_plugin(load_plugin(spec), self.dataset, self.dataset.inference_set(model), options,
                                       spec=spec, progress=progress)
                except AquaembedError as exc:
                    state["errors"][key] = (str(exc), options)
                    raise
            return FrameMatrices.from_stack(stack)

        return self._derived.get(("fm-plugin", model, metric, options), run)

    def metric_progress(self, model: str, metric: str, options: MatchOptions | None = None) -> tuple[int, int] | None:
        """``(frames done, frames)`` of the last run of a plugin metric, or None.

        With ``options``: of the run at those options only (None when the last run was at
        other options or none has started).
        """
        hit = self._custom_state()["progress"].get(f"{model}:{metric}")
        if hit is None or (options is not None and hit[2] != options):
            return None
        return hit[0], hit[1]

    def metric_error(self, model: str, metric: str, options: MatchOptions | None = None) -> str | None:
        """The one-line error of the last run of a plugin metric (at ``options`` when given), or
        None when it did not fail."""
        hit = self._custom_state()["errors"].get(f"{model}:{metric}")
        if hit is None or (options is not None and hit[1] != options):
            return None
        return str(hit[0])

    def scalar_columns(self) -> dict[str, np.ndarray]:
        """Per-frame scalar metrics stored with the dataset: ``{column: float64 (F,)}``."""
        return self._derived.get(("scalars", tuple(a for a in self.stored.artifact_names if a.startswith("scalars."))),
                                 lambda: CustomMetricStore(self.stored).scalar_columns())

    # ------------------------------------------------------------------ scenarios

    def scenarios(self) -> dict[str, dict[str, Any]]:
        """``{name: {"frames", "source", "where"}}``."""
        return ScenarioStore(self.stored).list()

    def scenarios_record(self, name: str) -> dict[str, Any]:
        """``{"frames": [ids], "source", "where"}`` of one scenario."""
        rec = self.scenarios().get(name)
        ids = ScenarioStore(self.stored).frame_ids(name)
        return {"frames": ids.tolist(), "source": (rec or {}).get("source"), "where": (rec or {}).get("where")}

    def scenario_mask(self, scenario: str | None) -> np.ndarray | None:
        """Bool mask over frame rows of a scenario, shape (F,) (None for no scenario)."""
        if scenario is None:
            return None
        return ScenarioStore(self.stored).frame_rows(scenario)

    def frame_restriction(self, scenario: str | None = None, frames: Sequence[int] | np.ndarray | None = None) -> np.ndarray | None:
        """Bool mask over frame rows, shape (F,): the frames of ``scenario`` and of the frame
        ids ``frames`` (both when both are given; None when neither is).

        Raises
        ------
        NotFoundError
            An unknown scenario or a frame id the dataset does not have (parameter ``frames``).
        """
        mask = self.scenario_mask(scenario)
        if frames is None:
            return mask
        ids = np.asarray(frames, dtype=np.int64).ravel()
        rows = self.dataset.frames.index_of_ids(ids)
        if np.any(rows < 0):
            bad = ids[rows < 0][:5].tolist()
            raise NotFoundError(f"frames: no frame with id {', '.join(map(str, bad))}", parameter="frames")
        own = np.zeros(len(self.dataset.frames), dtype=bool)
        own[rows] = True
        return own if mask is None else mask & own

    def frame_columns(
        self, model: str | None = None, options: MatchOptions | None = None, metric: str | None = None
    ) -> dict[str, np.ndarray]:
        """Every per-frame column an expression, a sort or a filter can use: ``id``, the
        per-frame metrics, the metadata and the scalar metrics; each shape (F,)."""
        fm = self.frame_matrices(model, options, metric).per_frame().as_dict()
        return {"id": self.dataset.frames.id, **fm, **self.dataset.frames.metadata, **self.scalar_columns()}

    def select_frames(self, where: str, model: str | None = None, options: MatchOptions | None = None,
                      metric: str | None = None) -> np.ndarray:
        """Frame ids an expression selects (int64, in frame row order)."""
        names = self.models()
        if model is None and len(names) != 1:
            # no inference set named: metadata and scalar metrics only
            cols = {"id": self.dataset.frames.id, **self.dataset.frames.metadata, **self.scalar_columns()}
        else:
            cols = self.frame_columns(model, options, metric)
        mask = evaluate_expression(where, cols, len(self.dataset.frames))
        return self.dataset.frames.id[mask]

    def save_scenario(
        self,
        name: str,
        *,
        where: str | None = None,
        frames: Sequence[int] | None = None,
        source: str | None = None,
        model: str | None = None,
        options: MatchOptions | None = None,
        metric: str | None = None,
        replace: bool = False,
    ) -> dict[str, Any]:
        """Save a scenario from an expression or from frame ids (a lasso, a cluster, a slice)."""
        if (where is None) == (frames is None):
            raise ParameterError("give either where (an expression) or frames (a list of frame ids)",
                                 parameter="where")
        if where is not None:
            ids = self.select_frames(where, model, options, metric)
            src = "where"
        else:
            ids = np.asarray(list(frames or []))
            src = source or "frames"
        n = ScenarioStore(self.stored).save(name, ids, source=src, where=where, replace=replace)
        return {"name": name, "frames": n, "source": src, "where": where}

    def delete_scenario(self, name: str) -> None:
        ScenarioStore(self.stored).delete(name)
