"""Frame-grid callbacks: filter and sort frames by metrics and metadata, page through them."""

from __future__ import annotations

from typing import Any

import dash
import numpy as np
from dash import Input, Output, no_update
from dash import State as DashState

from aquaembed.dashboard import figures, ids
from aquaembed.dashboard.components import thumb_card
from aquaembed.dashboard.context import Context, State
from aquaembed.dashboard.pages.frames import METRICS
from aquaembed.dashboard.tables import grid_height
from aquaembed.errors import AquaembedError

PAGE_SIZE = 24
MAX_VALUES = 500


def _view_inputs() -> list[Input]:
    """The filter and sort controls, in the order ``grid`` takes them (a change of any resets the page)."""
    return [Input(i, "value") for i in (ids.FR_FILTER_METRIC, ids.FR_FILTER_MIN, ids.FR_FILTER_MAX, ids.FR_FILTER_FIELD,
                                         ids.FR_FILTER_VALUES, ids.FR_SORT, ids.FR_ORDER)]


def register(app: dash.Dash, ctx: Context) -> None:
    @app.callback(
        Output(ids.FR_FILTER_FIELD, "options"),
        Output(ids.FR_FILTER_VALUES, "options"),
        Output(ids.FR_SORT, "options"),
        Input(ids.STATE, "data"),
        Input(ids.FR_FILTER_FIELD, "value"),
    )
    def options(data, field):
        if not data:
            return no_update, no_update, no_update
        view = ctx.view(data["dataset"])
        meta = view.dataset.frames.metadata
        values: list[str] = []
        if field in meta:
            uniq = np.unique(np.asarray(meta[field]).astype(str))
            values = uniq[:MAX_VALUES].tolist()
        sort = [{"label": n, "value": v} for v, n in METRICS] + [{"label": "frame id", "value": "id"}] + \
            [{"label": f, "value": f} for f in [*meta, *view.scalar_columns()]]
        return list(meta), values, sort

    @app.callback(
        Output(ids.FR_PAGE, "data"),
        Input(ids.FR_PREV, "n_clicks"),
        Input(ids.FR_NEXT, "n_clicks"),
        *_view_inputs(),
        DashState(ids.FR_PAGE, "data"),
        prevent_initial_call=True,
    )
    def page(*args):
        current = args[-1] or 0
        trig = dash.ctx.triggered_id
        if trig == ids.FR_PREV:
            return max(0, current - 1)
        if trig == ids.FR_NEXT:
            return current + 1
        return 0

    @app.callback(
        Output(ids.FR_GRID, "children"),
        Output(ids.FR_TITLE, "children"),
        Input(ids.FR_PAGE, "data"),
        *_view_inputs(),
        Input(ids.STATE, "data"),
    )
    def grid(page_no, metric, lo, hi, field, values, sort, order, data):
        if not data or data["view"] != "frames":
            return no_update, no_update
        st = State(**data)
        view = ctx.view(st.dataset)
        ranges = {metric: (lo, hi)} if metric and (lo is not None or hi is not None) else None
        equals = {field: list(values)} if field and values else None
        focused = None
        if st.focus:
            from aquaembed.dashboard.focus import focus_frame_ids

            focused = focus_frame_ids(ctx, st)
        # the header's metric gives the per-frame counts; its scenario (and a report focus) the frames
        query: dict[str, Any] = {"options": st.options, "sort": sort or "f1", "order": order or "asc", "equals": equals,
                                 "ranges": ranges, "metric": st.metric_name, "scenario": st.scenario_name,
                                 "frames": focused}
        try:
            total = view.frames(st.model, limit=0, **query)["total"]
            pages = max(1, -(-total // PAGE_SIZE))
            page_no = min(int(page_no or 0), pages - 1)
            res = view.frames(st.model, limit=PAGE_SIZE, offset=page_no * PAGE_SIZE, **query)
        except AquaembedError as exc:
            return [], f"Cannot filter: {exc}"
        cards = []
        for r in res["rows"]:
            meta = r["metadata"]
            tags = " · ".join(str(v) for k, v in meta.items() if k in ("scene", "time_of_day", "weather")) or \
                " · ".join(str(v) for v in list(meta.values())[:3])
            cards.append(thumb_card(
                ctx.frame_url(st, r["id"], size=400),
                [f"frame {r['id']} · {tags}",
                 f"P {figures.fmt(r['precision'], 2)} · R {figures.fmt(r['recall'], 2)} · F1 {figures.fmt(r['f1'], 2)}",
                 f"TP {r['tp']} · FP {r['fp']} · FN {r['fn']}"],
                href=ctx.frame_url(st, r["id"], size=1280), width=300, test_id="frame-card"))
        what = []
        if ranges:
            what.append(f"{lo if lo is not None else '−∞'} ≤ {metric} ≤ {hi if hi is not None else '∞'}")
        if field and values:
            what.append(f"{field} ∈ {{{', '.join(values)}}}")
        if focused is not None:
            what.append(f"frame ∈ the isolated {st.focus.split(':')[0]}")
        if st.scenario:
            what.append(f"frame ∈ scenario {st.scenario}")
        title = (f"{total:,} frames" + (f" where {' and '.join(what)}" if what else "") +
                 f" · counts of the {st.metric_name and 'metric ' + st.metric_name or 'built-in matching'}" +
                 f" · sorted by {sort} ({'low' if order == 'asc' else 'high'} first) · page {page_no + 1} of {pages}")
        return cards, title

    @app.callback(
        Output(ids.FR_SLICE_FIELD, "options"),
        Output(ids.FR_SLICE_FIELD, "value"),
        Output(ids.FR_SLICE_CLASS, "options"),
        Input(ids.STATE, "data"),
        DashState(ids.FR_SLICE_FIELD, "value"),
    )
    def slice_options(data, field):
        if not data:
            return no_update, no_update, no_update
        view = ctx.view(data["dataset"])
        fields = [*view.dataset.frames.metadata, *view.scalar_columns()]  # scalar metrics slice by quantile bins
        if field not in fields:
            field = "scene" if "scene" in fields else (fields[0] if fields else None)
        return fields, field, list(view.dataset.classes.names)

    @app.callback(
        Output(ids.FR_SLICE_TABLE, "rowData"),
        Output(ids.FR_SLICE_TABLE, "dashGridOptions"),
        Output(ids.FR_SLICE_TABLE, "style"),
        Input(ids.STATE, "data"),
        Input(ids.FR_SLICE_FIELD, "value"),
        Input(ids.FR_SLICE_CLASS, "value"),
    )
    def slices(data, field, cls):
        if not data or data["view"] != "frames" or not field:
            return no_update, no_update, no_update
        st = State(**data)
        try:
            rows = ctx.view(st.dataset).slices(st.model, options=st.options, field=field, cls=cls or None,
                                               metric=st.metric_name, scenario=st.scenario_name)["rows"]
            if st.scenario:  # values with no frame in the scenario are not slices of it
                rows = [r for r in rows if r["frames"]]
        except AquaembedError:
            rows = []
        return (rows, *grid_height(len(rows)))

