"""Small HTML building blocks shared by the pages (cards, compact tables)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dash import html

from aquaembed.analysis.selection import OverRepresented
from aquaembed.dashboard.figures import fmt, pct
from aquaembed.metrics import Counts


def thumb_card(src: str, lines: Sequence[Any], *, href: str | None = None, badge: str | None = None,
               badge_colour: str | None = None, width: int = 128, test_id: str | None = None,
               data: dict[str, str] | None = None) -> html.Div:
    """A thumbnail with a caption; ``href`` opens the full picture in a new tab."""
    img = html.Img(src=src, alt="", className="ae-thumb-img", style={"maxWidth": f"{width}px"})
    pic = html.A(img, href=href, target="_blank") if href else img
    caption = [html.Div(str(x) if not isinstance(x, html.Div) else x, className="ae-cap") for x in lines]
    top = [html.Span(badge, className="ae-badge", style={"background": badge_colour or "#555"})] if badge else []
    attrs = {"data-testid": test_id} if test_id else {}
    attrs.update({f"data-{k}": v for k, v in (data or {}).items()})
    return html.Div([*top, pic, *caption], className="ae-thumb", style={"width": f"{width + 12}px"}, **attrs)


def counts_table(parts: Mapping[str, tuple[int, Counts]], noun: str) -> html.Table:
    """Selection vs rest: how many items, TP, FP, FN, precision, recall, F1 (scalar counts)."""
    head = html.Tr([html.Th(""), html.Th(noun), html.Th("TP"), html.Th("FP"), html.Th("FN"),
                    html.Th("precision"), html.Th("recall"), html.Th("F1")])
    body = [html.Tr([html.Th(name), html.Td(f"{count:,}"), html.Td(f"{int(c.tp):,}"), html.Td(f"{int(c.fp):,}"),
                     html.Td(f"{int(c.fn):,}"), html.Td(fmt(float(c.precision))), html.Td(fmt(float(c.recall))),
                     html.Td(fmt(float(c.f1)))])
            for name, (count, c) in parts.items()]
    return html.Table([html.Thead(head), html.Tbody(body)], className="ae-table", **{"data-testid": "selection-counts"})


def over_table(rows: Sequence[OverRepresented]) -> html.Div | html.Table:
    """Over-represented metadata values of a selection (share, share of the rest, lift)."""
    if not rows:
        return html.P("No metadata value is clearly over-represented in the selection.", className="ae-muted")
    head = html.Tr([html.Th("field"), html.Th("value"), html.Th("in selection"), html.Th("in the rest"), html.Th("lift")])
    body = [html.Tr([html.Td(r.field), html.Td(html.B(r.value)), html.Td(f"{pct(r.share)} ({r.count:,})"),
                     html.Td(pct(r.share_rest)), html.Td(f"×{r.lift:.1f}")]) for r in rows]
    return html.Table([html.Thead(head), html.Tbody(body)], className="ae-table ae-over", **{"data-testid": "over-represented"})
