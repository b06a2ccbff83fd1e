"""Tables of the dashboard: one way to build an AG Grid (dash-ag-grid).

Every table sorts and filters (a box under a text column's header, a filter button on a
number column's), pins its first column and
renders only the rows in view, so a 100k-row table scrolls as fast as a 10-row one.
Short tables size themselves to their rows (no empty area under them); longer ones keep
a fixed height and scroll.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dash_ag_grid as dag
from dash import Patch

__all__ = ["AUTO_HEIGHT_ROWS", "Column", "grid", "grid_height"]

ColumnKind = Literal["text", "int", "ratio", "share"]

AUTO_HEIGHT_ROWS = 50
"""Tables with at most this many rows show them all; longer ones scroll inside a fixed height."""
SCROLL_HEIGHT = "480px"

# a ratio whose denominator is zero is undefined: null in the data, "—" on the page
_FORMAT: dict[str, str] = {
    "int": "params.value == null ? '—' : d3.format(',')(params.value)",
    "ratio": "params.value == null ? '—' : d3.format('.3f')(params.value)",
    "share": "params.value == null ? '—' : d3.format('.1%')(params.value)",
}


@dataclass(frozen=True)
class Column:
    """One column: the row field, its header and how its values are shown."""

    field: str
    header: str
    kind: ColumnKind = "int"
    width: int | None = None


def _column_def(col: Column, *, first: bool) -> dict[str, Any]:
    d: dict[str, Any] = {"field": col.field, "headerName": col.header}
    if col.kind == "text":
        d["filter"] = "agTextColumnFilter"
        d["floatingFilter"] = True  # a box under the header: type a class or a scene
    else:
        # numbers filter from the header's filter button (a box per narrow column would crowd it)
        d["filter"] = "agNumberColumnFilter"
        d["type"] = "rightAligned"
        d["valueFormatter"] = {"function": _FORMAT[col.kind]}
        d["comparator"] = {"function": "nullsLast"}  # assets/aquaembed.js
    if first:
        d["pinned"] = "left"
        d["minWidth"] = 110
        d["maxWidth"] = 150
    if col.width:
        d["minWidth"] = col.width
    return d


def grid_height(n_rows: int, options: Patch | None = None) -> tuple[Patch, dict[str, Any]]:
    """A ``dashGridOptions`` patch and a ``style`` fitting ``n_rows``.

    Up to :data:`AUTO_HEIGHT_ROWS` rows the grid is as tall as its rows; beyond, it keeps
    :data:`SCROLL_HEIGHT` and renders only the rows in view.
    """
    patch = options if options is not None else Patch()
    auto = n_rows <= AUTO_HEIGHT_ROWS
    patch["domLayout"] = "autoHeight" if auto else "normal"
    return patch, {"width": "100%", **({} if auto else {"height": SCROLL_HEIGHT})}


def grid(
    id_: str,
    columns: Sequence[Column],
    *,
    sort: tuple[str, Literal["asc", "desc"]] | None = None,
    row_id: str = "id",
    pinned_bottom: bool = False,
) -> dag.AgGrid:
    """An AG Grid with sortable, filterable, resizable columns.

    Parameters
    ----------
    id_ : str
        Component id (from :mod:`aquaembed.dashboard.ids`).
    columns : sequence of Column
        The first one is pinned to the left.
    sort : (field, direction), optional
        The initial sort.
    row_id : str
        The row field that identifies a row (``cellClicked["rowId"]``).
    pinned_bottom : bool
        Keep an ``overall`` row at the bottom, outside sorting and filtering (set through
        ``dashGridOptions.pinnedBottomRowData``).
    """
    defs = [_column_def(c, first=i == 0) for i, c in enumerate(columns)]
    if sort is not None:
        for d in defs:
            if d["field"] == sort[0]:
                d["sort"] = sort[1]
    options: dict[str, Any] = {"domLayout": "autoHeight", "animateRows": False, "rowBuffer": 20,
                               "enableCellTextSelection": True}
    if pinned_bottom:
        options["pinnedBottomRowData"] = []
    return dag.AgGrid(
        id=id_,
        columnDefs=defs,
        rowData=[],
        defaultColDef={"sortable": True, "resizable": True, "minWidth": 72, "flex": 1, "wrapHeaderText": True,
                       "autoHeaderHeight": True, "suppressHeaderMenuButton": True,
                       "filterParams": {"buttons": ["reset"]}},
        # the pinned overall row of a report in bold
        getRowStyle={"styleConditions": [{"condition": "params.node.rowPinned", "style": {"fontWeight": 700}}]},
        dashGridOptions=options,
        getRowId=f"params.data.{row_id}",
        className="ae-grid-table",
        style={"width": "100%"},
    )
