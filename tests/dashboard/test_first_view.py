"""The first view of a page comes with its layout: the embedding map of the URL's state.

Dash's layout request carries the page's query (``_dash-layout?page=<query>``, added by
``assets/aquaembed.js``); the layout then holds the figure ``draw`` would have sent, so
the browser draws without a callback round trip. Checked against the library's own
projection (the confusion types at the URL's threshold), through Flask's test client.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

from aquaembed.matching import MatchOptions
from factories import DS, build_store


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    from aquaembed.dashboard import create_dash
    from aquaembed.explore import Workspace

    data = build_store(tmp_path_factory.mktemp("first-view"))
    app = create_dash(Workspace(data))
    client = app.server.test_client()
    assert client.get("/").status_code == 200  # the page request (it starts building the map)
    return client, Workspace(data)


def _layout(client: Any, page: str | None) -> dict[str, Any]:
    url = "/_dash-layout" + ("" if page is None else "?page=" + quote(page, safe=""))
    r = client.get(url)
    assert r.status_code == 200
    return json.loads(r.data)


def _find(tree: Any, id_: str) -> dict[str, Any] | None:
    if isinstance(tree, dict):
        if tree.get("props", {}).get("id") == id_:
            return tree["props"]
        return next((hit for v in tree.values() if (hit := _find(v, id_)) is not None), None)
    if isinstance(tree, list):
        return next((hit for v in tree if (hit := _find(v, id_)) is not None), None)
    return None


def _points(trace: dict[str, Any]) -> int:
    x = trace["x"]
    return len(base64.b64decode(x["bdata"])) // 4 if isinstance(x, dict) else len(x)


def test_the_layout_holds_the_map_of_the_pages_url(served) -> None:
    from aquaembed.dashboard import figures, ids

    client, ws = served
    layout = _layout(client, f"?dataset={DS}&model=yolo&view=embedding&kind=crop&colour=type&conf=0.35&iou=0.6")
    fig = _find(layout, ids.EMB_GRAPH)["figure"]
    key = _find(layout, ids.EMB_STATE)["data"]
    assert key["state"]["conf"] == 0.35 and key["state"]["iou"] == 0.6 and key["viewport"] is None
    # one trace per confusion type, holding that type's crops at conf 0.35 / IoU 0.6 (the library's projection)
    proj = ws.get(DS).projection("crop", "yolo", options=MatchOptions(conf=0.35, iou=0.6))
    want = {name: int(np.count_nonzero(np.asarray(proj["type"]) == code)) for code, name in figures.TYPE_ORDER}
    got = {t["name"].split(" (")[0]: _points(t) for t in fig["data"]}
    assert got == {k: v for k, v in want.items() if k in got} and sum(got.values()) == len(proj["x"])
    assert "label crop and one inference crop" in _find(layout, ids.EMB_LEGEND_NOTE)["children"]


def test_no_map_in_the_layout_of_another_view_or_without_the_query(served) -> None:
    from aquaembed.dashboard import ids

    client, _ = served
    for page in (f"?dataset={DS}&view=metrics", None):
        layout = _layout(client, page)
        assert not _find(layout, ids.EMB_GRAPH).get("figure") and not _find(layout, ids.EMB_STATE).get("data")


def test_a_bad_url_gets_the_map_of_what_it_is_replaced_with(served) -> None:
    from aquaembed.dashboard import ids

    client, _ = served
    key = _find(_layout(client, "?dataset=nope&conf=7&colour=nonsense"), ids.EMB_STATE)["data"]
    # the state sync shows (and names in its notice): the first dataset, conf 0.5, its default colouring
    assert key["state"]["conf"] == 0.5
    assert key["state"]["colour"] == "type" and key["state"]["dataset"] in ("harbour", "solo")
