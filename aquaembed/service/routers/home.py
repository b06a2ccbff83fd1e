"""``GET /``: a plain page listing the datasets (until the dashboard is mounted there)."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from aquaembed import __version__
from aquaembed.service.deps import WorkspaceDep

__all__ = ["router", "API_PREFIX"]

API_PREFIX = "/api/v1"

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>aquaembed</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}}
td,th{{padding:.2rem .8rem;text-align:left}}</style></head>
<body><h1>aquaembed {version}</h1>
<p>JSON API: <a href="{api}/docs">{api}/docs</a> (OpenAPI schema:
<a href="{api}/openapi.json">{api}/openapi.json</a>)</p>
<h2>Datasets</h2>
{body}
</body></html>
"""


@router.get("/", response_class=HTMLResponse, response_model=None)
def home(workspace: WorkspaceDep) -> HTMLResponse:
    """List the datasets with links to their description and their metrics JSON."""
    names = workspace.names()
    if not names:
        body = "<p>No datasets in the data directory yet.</p>"
    else:
        rows = []
        for name in names:
            s = workspace.get(name).summary()
            base = f"{API_PREFIX}/datasets/{quote(name, safe='')}"
            links = " ".join(
                f'<a href="{base}/metrics?model={quote(m, safe="")}">{escape(m)}</a>' for m in s["inference_sets"]
            )
            rows.append(
                f'<tr><td><a href="{base}">{escape(name)}</a></td><td>{s["frames"]}</td>'
                f'<td>{s["labels"]}</td><td>{len(s["classes"])}</td><td>{links or "—"}</td></tr>'
            )
        body = (
            "<table><tr><th>dataset</th><th>frames</th><th>labels</th><th>classes</th>"
            "<th>metrics per inference set</th></tr>" + "".join(rows) + "</table>"
        )
    return HTMLResponse(_PAGE.format(version=escape(__version__), api=API_PREFIX, body=body))
