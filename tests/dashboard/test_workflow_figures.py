"""The comparison page's figures, built without a browser."""

from __future__ import annotations

import numpy as np

from aquaembed.dashboard.workflow_figures import delta_frame_figure, diff_figure, transition_crop_figure


def test_delta_map_splits_undefined_and_keeps_ids() -> None:
    proj = {"x": np.arange(4.0), "y": np.zeros(4), "ids": np.array([7, 8, 9, 10]),
            "delta_f1": np.array([0.5, np.nan, -0.25, 0.0])}
    fig = delta_frame_figure(proj, ("a", "b"))
    undefined, defined = fig.data
    assert list(undefined.customdata) == [8] and list(defined.customdata) == [7, 9, 10]
    assert defined.marker.cmin == -0.5 and defined.marker.cmax == 0.5


def test_crop_traces_per_transition_and_model() -> None:
    proj = {"x": np.arange(6.0), "y": np.zeros(6), "ids": np.arange(6), "source": np.array([0, 0, 0, 1, 1, 1]),
            "transition": np.array([0, 1, 1, -1, -1, -1], dtype=np.int8),
            "model": np.array(["", "", "", "a", "b", "b"], dtype=object)}
    fig = transition_crop_figure(proj, ("a", "b"))
    n = {t.name: len(t.x) for t in fig.data}
    assert n["label: fixed (TP only in B)"] == 1 and n["label: broken (TP only in A)"] == 2
    assert n["label: found by both"] == 0 and n["inference of a"] == 1 and n["inference of b"] == 2


def test_diff_heatmap_is_symmetric_around_zero() -> None:
    fig = diff_figure(["car", "background"], [[3, -5], [1, 0]], ("a", "b"))
    hm = fig.data[0]
    assert hm.zmin == -5 and hm.zmax == 5 and hm.text[0][1] == "-5" and hm.text[1][1] == ""
