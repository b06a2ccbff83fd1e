"""Label-review callbacks: the queue from the library, verdicts back to the dataset."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, html, no_update
from dash import State as DashState
from flask import Response, abort, request

from aquaembed.dashboard import ids
from aquaembed.dashboard.components import thumb_card
from aquaembed.dashboard.context import Context, State
from aquaembed.dashboard.pages.review import KIND_LABELS
from aquaembed.errors import AquaembedError
from aquaembed.render import issue_image

QUEUE_SHOWN = 12
NEIGHBOURS = 6


def _issue_url(ctx: Context, st: State, issue: dict[str, Any]) -> str:
    ds = ctx.names().index(st.dataset)
    m = ctx.view(st.dataset).models().index(st.model)
    q: dict[str, Any] = {"m": m, "f": issue["frame"]}
    if issue.get("label_id") is not None:
        q["l"] = issue["label_id"]
    if issue.get("pred_index") is not None:
        q["p"] = issue["pred_index"]
    if issue.get("suggested_box") and issue["kind"] == "bad_location" and issue.get("pred_index") is None:
        q["b"] = ",".join(f"{v:g}" for v in issue["suggested_box"])
    return f"{ctx.base}_review/issue/{ds}.jpg?{urlencode(q)}"


def _fix_text(issue: dict[str, Any]) -> str:
    kind = issue["kind"]
    if kind == "missing_label":
        return f"add a {issue['suggested_class']} label at the inference's box"
    if kind == "wrong_class":
        return f"relabel {issue['label_class']} → {issue['suggested_class']}"
    if kind == "bad_location":
        return "replace the box by " + ", ".join(f"{v:.0f}" for v in issue["suggested_box"]) + " (x, y, w, h)"
    if kind == "duplicate_label":
        return f"drop this label (it duplicates label {issue.get('duplicate_of')})"
    return "drop this label"


def _item(ctx: Context, st: State, issue: dict[str, Any], pos: int, total: int) -> html.Div:
    verdict = issue.get("verdict")
    source, cid = ("label", issue["label_id"]) if issue["label_id"] is not None else ("pred", issue["pred_index"])
    return html.Div(className="ae-review-item", **{"data-testid": "review-item", "data-key": issue["key"]}, children=[
        html.Div(style={"display": "flex", "gap": "12px", "alignItems": "flex-start"}, children=[
            html.Img(src=_issue_url(ctx, st, issue), alt="", className="ae-review-img", style={"maxWidth": "70%"}),
            html.Img(src=ctx.crop_url(st, source, int(cid), size=256), alt="", title="the box, zoomed in",
                     className="ae-review-zoom", style={"width": "256px", "imageRendering": "pixelated"}),
        ]),
        html.Div([
            html.H3(f"#{pos + 1} of {total} · {KIND_LABELS[issue['kind']]} · score {issue['score']:.2f}"),
            html.P(issue["reason"]),
            html.P(["suggested fix: ", html.B(_fix_text(issue), **{"data-testid": "review-fix"})]),
            html.P(f"frame {issue['frame']} · label {issue['label_id'] if issue['label_id'] is not None else '—'} · "
                   f"inference {issue['pred_index'] if issue['pred_index'] is not None else '—'}", className="ae-muted"),
            html.P(f"verdict: {verdict}" + (f" (as {issue['new_class']})" if issue.get("new_class") else ""), className="ae-muted")
            if verdict else None,
        ]),
    ])


def _neighbours(ctx: Context, st: State, issue: dict[str, Any]) -> list[Any]:
    view = ctx.view(st.dataset)
    source, cid = ("label", issue["label_id"]) if issue["label_id"] is not None else ("pred", issue["pred_index"])
    try:
        res = view.similar("crop", int(cid), k=NEIGHBOURS, model=st.model, source=source)
    except AquaembedError as exc:
        return [html.P(f"No neighbours: {exc}", className="ae-muted")]
    cards = [thumb_card(ctx.crop_url(st, source, int(cid)), ["this crop", res["query"]["class"]], badge="query")]
    for nb in res["neighbors"]:
        cards.append(thumb_card(ctx.crop_url(st, nb["source"], nb["id"]),
                                [f"{nb['source']} {nb['id']}", nb["class"], f"similarity {nb['similarity']:.2f}"]))
    return cards


def register(app: dash.Dash, ctx: Context) -> None:
    @app.server.route(f"{ctx.base}_review/issue/<int:ds>.jpg", endpoint="aquaembed_review_issue")
    def issue_route(ds: int) -> Response:
        names = ctx.names()
        if not 0 <= ds < len(names):
            abort(404, "unknown dataset")
        view = ctx.view(names[ds])
        models = view.models()
        m = request.args.get("m", 0, type=int)
        if m is None or not 0 <= m < len(models):
            abort(404, "unknown inference set")
        box = request.args.get("b")
        try:
            suggested = [float(v) for v in box.split(",")] if box else None
            data = issue_image(view, request.args.get("f", -1, type=int), model=models[m],
                               label_id=request.args.get("l", None, type=int),
                               pred_index=request.args.get("p", None, type=int), suggested_box=suggested)
        except (AquaembedError, ValueError) as exc:
            abort(404, str(exc))
        resp = Response(data, mimetype="image/jpeg")
        resp.headers["Cache-Control"] = "public, max-age=600"
        return resp

    @app.callback(
        Output(ids.REV_COUNTS, "children"),
        Output(ids.REV_ITEM, "children"),
        Output(ids.REV_NEIGHBOURS, "children"),
        Output(ids.REV_QUEUE, "children"),
        Output(ids.REV_KEY, "data"),
        Output(ids.REV_CLASS, "options"),
        Output(ids.REV_EDIT_CLASS, "options"),
        Output(ids.REV_EDIT_CLASS, "value"),
        Input(ids.STATE, "data"),
        Input(ids.REV_KIND, "value"),
        Input(ids.REV_CLASS, "value"),
        Input(ids.REV_STATUS, "value"),
        Input(ids.REV_POS, "data"),
        Input(ids.REV_TICK, "data"),
    )
    def show(data, kind, cls, status, pos, _tick):
        if not data or data.get("view") != "review":
            return (no_update,) * 8
        st = State(**data)
        view = ctx.view(st.dataset)
        classes = ctx.class_names(view)
        try:
            page = view.label_issues(st.model, kind=kind, cls=cls, status=status or "open", limit=QUEUE_SHOWN, offset=max(pos or 0, 0))
        except AquaembedError as exc:
            return html.Span(str(exc)), None, None, None, None, classes, classes, None
        c = page["counts"]
        counts = f"{c['issues']:,} issues · reviewed {c['reviewed']:,} · accepted {c['accepted']:,} · {page['total']:,} in this queue"
        if not page["issues"]:
            return counts, html.P("Nothing left in this queue.", className="ae-muted"), None, None, None, classes, classes, None
        issue = page["issues"][0]
        queue = html.Ol(start=(pos or 0) + 1, children=[
            html.Li(f"{KIND_LABELS[i['kind']]} · {i['score']:.2f} · frame {i['frame']} · {i['reason']}") for i in page["issues"]])
        return (counts, _item(ctx, st, issue, pos or 0, page["total"]), _neighbours(ctx, st, issue), queue,
                issue["key"], classes, classes, None)

    @app.callback(
        Output(ids.REV_POS, "data"),
        Output(ids.REV_TICK, "data"),
        Input(ids.REV_ACCEPT, "n_clicks"),
        Input(ids.REV_REJECT, "n_clicks"),
        Input(ids.REV_SKIP, "n_clicks"),
        Input(ids.REV_PREV, "n_clicks"),
        Input(ids.REV_NEXT, "n_clicks"),
        Input(ids.REV_KIND, "value"),
        Input(ids.REV_CLASS, "value"),
        Input(ids.REV_STATUS, "value"),
        DashState(ids.STATE, "data"),
        DashState(ids.REV_KEY, "data"),
        DashState(ids.REV_EDIT_CLASS, "value"),
        DashState(ids.REV_POS, "data"),
        DashState(ids.REV_TICK, "data"),
        prevent_initial_call=True,
    )
    def act(_a, _r, _s, _p, _n, _kind, _cls, status, data, key, edit, pos, tick):
        trig = dash.ctx.triggered_id
        pos, tick = pos or 0, tick or 0
        if trig in (ids.REV_KIND, ids.REV_CLASS, ids.REV_STATUS):
            return 0, tick
        if trig == ids.REV_PREV:
            return max(pos - 1, 0), tick
        if trig == ids.REV_NEXT:
            return pos + 1, tick
        if not data or not key:
            return no_update, no_update
        verdict = {ids.REV_ACCEPT: "accept", ids.REV_REJECT: "reject", ids.REV_SKIP: "skip"}[trig]
        st = State(**data)
        ctx.view(st.dataset).record_verdict(st.model, key, verdict, new_class=edit if verdict == "accept" else None)
        # in the "to review" queue an accepted or rejected issue leaves, so the next one takes its place
        stays = (status or "open") == "open" and verdict != "skip"
        return (pos if stays else pos + 1), tick + 1
