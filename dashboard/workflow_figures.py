"""Pure figure builders of the comparison page (tests call them without a browser)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from aquaembed.analysis.compare import TRANSITIONS

__all__ = ["TRANSITION_COLOURS", "delta_frame_figure", "transition_crop_figure", "diff_figure"]

TRANSITION_COLOURS = {"fixed": "#1a9850", "broken": "#d73027", "both_found": "#91bfdb", "both_missed": "#7f7f7f"}
"""Colour of each label transition from A to B."""
_LABELS = {"fixed": "fixed (TP only in B)", "broken": "broken (TP only in A)", "both_found": "found by both",
           "both_missed": "missed by both"}


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(template="plotly_white", title={"text": title, "x": 0.01, "font": {"size": 14}},
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, dragmode="lasso",
                      legend={"itemclick": "toggle", "itemdoubleclick": "toggleothers"},
                      xaxis={"showticklabels": False}, yaxis={"showticklabels": False})
    return fig


def delta_frame_figure(proj: Mapping[str, Any], models: Sequence[str]) -> go.Figure:
    """Frames on their projection coloured by ``delta_f1`` (B - A), diverging at 0; grey where undefined."""
    x, y, d = np.asarray(proj["x"]), np.asarray(proj["y"]), np.asarray(proj["delta_f1"], dtype=np.float64)
    ids = np.asarray(proj["ids"])
    ok = ~np.isnan(d)
    lim = float(np.nanmax(np.abs(d))) if ok.any() else 1.0
    fig = go.Figure()
    fig.add_trace(go.Scattergl(
        x=x[~ok], y=y[~ok], mode="markers", name="ΔF1 undefined", customdata=ids[~ok].tolist(),
        marker={"color": "#cccccc", "size": 5}, hovertemplate="frame %{customdata}<br>ΔF1 —<extra></extra>"))
    fig.add_trace(go.Scattergl(
        x=x[ok], y=y[ok], mode="markers", name="ΔF1", customdata=ids[ok].tolist(),
        marker={"color": d[ok], "colorscale": "RdYlGn", "cmin": -max(lim, 1e-9), "cmax": max(lim, 1e-9), "size": 6,
                "colorbar": {"title": {"text": f"ΔF1<br>{models[1]} − {models[0]}"}, "thickness": 12}},
        hovertemplate="frame %{customdata}<br>ΔF1 %{marker.color:.3f}<extra></extra>"))
    return _layout(fig, f"Frames by ΔF1 ({models[1]} − {models[0]}); lasso to save a scenario")


def transition_crop_figure(proj: Mapping[str, Any], models: Sequence[str]) -> go.Figure:
    """Label crops coloured by transition, and both models' inference crops on the same projection."""
    src = np.asarray(proj["source"])
    trans = np.asarray(proj["transition"])
    model = np.asarray(proj["model"]).astype(str)
    x, y, ids = np.asarray(proj["x"]), np.asarray(proj["y"]), np.asarray(proj["ids"])
    fig = go.Figure()
    for code, name in enumerate(TRANSITIONS):
        m = (src == 0) & (trans == code)
        fig.add_trace(go.Scattergl(
            x=x[m], y=y[m], mode="markers", name=f"label: {_LABELS[name]}", customdata=ids[m],
            marker={"color": TRANSITION_COLOURS[name], "size": 6},
            hovertemplate=f"label %{{customdata}}<br>{_LABELS[name]}<extra></extra>"))
    for k, (name, symbol) in enumerate(zip(models, ("x", "triangle-up"))):
        m = (src == 1) & (model == name)
        fig.add_trace(go.Scattergl(
            x=x[m], y=y[m], mode="markers", name=f"inference of {name}", customdata=ids[m],
            marker={"symbol": symbol, "color": ("#6a3d9a", "#ff7f00")[k], "size": 5, "opacity": 0.6},
            visible="legendonly" if m.sum() > 20000 else True,
            hovertemplate=f"{name} inference %{{customdata}}<extra></extra>"))
    return _layout(fig, "Crops: labels by transition, both models' inferences")


def diff_figure(classes: Sequence[str], diff: Sequence[Sequence[int]], models: Sequence[str]) -> go.Figure:
    """Heatmap of the difference matrix (B - A), diverging at 0; click a cell for the changed pairs."""
    z = np.asarray(diff, dtype=np.int64)
    lim = max(int(np.abs(z).max()) if z.size else 1, 1)
    names = [str(c) for c in classes]
    text = np.where(z != 0, z.astype(str), "")
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, text=text, texttemplate="%{text}", colorscale="RdBu", zmin=-lim, zmax=lim,
        xgap=1, ygap=1, colorbar={"title": {"text": "B − A"}, "thickness": 12},
        hovertemplate="label: %{y}<br>predicted: %{x}<br>B − A: %{z}<extra></extra>"))
    fig.update_layout(template="plotly_white", margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title={"text": f"Confusion matrix {models[1]} − {models[0]} (click a cell)", "x": 0.01,
                             "font": {"size": 14}},
                      xaxis={"title": "predicted class", "type": "category", "tickangle": -30},
                      yaxis={"title": "label class", "autorange": "reversed", "type": "category"})
    return fig
