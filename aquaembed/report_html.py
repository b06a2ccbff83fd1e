"""The failure report as one self-contained HTML page (inline JPEG thumbnails and SVG plots).

Nothing is fetched when the page opens: it can be mailed to a colleague.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aquaembed.store.atomic import atomic_write_bytes

__all__ = ["render_report_html", "write_report_html"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
.card{border:1px solid #ddd;border-radius:6px;padding:10px;margin:10px 0}
.thumbs img{height:64px;margin:2px;border:1px solid #ccc}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
.better{color:#1a7f37}.worse{color:#b42318}.muted{color:#777;font-size:12px}
"""


def _thumb(view: Any, model: str | None, crop: dict[str, Any], size: int = 96) -> str | None:
    """A base64 JPEG data URI of one crop, or None when the image is unavailable."""
    root = view.image_root
    if root is None:
        return None
    from PIL import Image

    ds = view.dataset
    if crop["source"] == "pred":
        inf = ds.inference_set(model)
        box, frame = inf.box[crop["id"]], inf.frame[crop["id"]]
    else:
        row = int(view._label_rows(np.array([crop["id"]]))[0])
        if row < 0:
            return None
        box, frame = ds.labels.box[row], ds.labels.frame[row]
    path = Path(root) / str(ds.frames.file_name[frame])
    try:
        with Image.open(path) as im:
            x1, y1, x2, y2 = (float(v) for v in box)
            pad = 0.15 * max(x2 - x1, y2 - y1)
            img = im.convert("RGB").crop((int(x1 - pad), int(y1 - pad), int(x2 + pad), int(y2 + pad)))
    except OSError:
        return None
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _interval_svg(value: float, rest: float, interval: Sequence[float | None], width: int = 220) -> str:
    def x(v: float) -> float:
        return 10 + v * (width - 20)

    lo = float(interval[0]) if interval and interval[0] is not None else value
    hi = float(interval[1]) if interval and interval[1] is not None else value
    return (
        f'<svg width="{width}" height="18" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="10" y1="9" x2="{width - 10}" y2="9" stroke="#ddd"/>'
        f'<line x1="{x(lo):.1f}" y1="9" x2="{x(hi):.1f}" y2="9" stroke="#1f77b4" stroke-width="4"/>'
        f'<circle cx="{x(value):.1f}" cy="9" r="4" fill="#1f77b4"/>'
        f'<line x1="{x(rest):.1f}" y1="2" x2="{x(rest):.1f}" y2="16" stroke="#d62728" stroke-width="2"/></svg>'
    )


def _coverage_svg(bins: list[dict[str, Any]], width: int = 520, height: int = 180) -> str:
    n = len(bins)
    bw = (width - 40) / max(n, 1)
    parts = [f'<svg width="{width}" height="{height + 40}" xmlns="http://www.w3.org/2000/svg">']
    top = max((b["frames"] for b in bins), default=1) or 1
    for i, b in enumerate(bins):
        x0 = 30 + i * bw
        h = (b["frames"] / top) * (height - 20)
        parts.append(f'<rect x="{x0 + 2:.1f}" y="{height - h:.1f}" width="{bw - 4:.1f}" height="{h:.1f}" fill="#c6dbef"/>')
        if b.get("f1") is not None:
            y = height - b["f1"] * (height - 20)
            parts.append(f'<circle cx="{x0 + bw / 2:.1f}" cy="{y:.1f}" r="4" fill="#d62728"/>')
            parts.append(f'<text x="{x0 + bw / 2:.1f}" y="{y - 6:.1f}" font-size="10" text-anchor="middle">{b["f1"]:.2f}</text>')
        parts.append(
            f'<text x="{x0 + bw / 2:.1f}" y="{height + 14}" font-size="10" text-anchor="middle">'
            f'{b["bin"][0]:.2f}-{b["bin"][1]:.2f}</text>'
        )
        parts.append(f'<text x="{x0 + bw / 2:.1f}" y="{height + 28}" font-size="10" text-anchor="middle">{b["frames"]} fr</text>')
    parts.append("</svg>")
    return "".join(parts)


def _esc(v: Any) -> str:
    return html.escape(v if isinstance(v, str) else ", ".join(map(str, v)) if isinstance(v, list) else str(v))


def render_report_html(report: dict[str, Any], view: Any, *, max_clusters: int = 30, max_slices: int = 60) -> str:
    """The report page as a string (see the module docstring)."""
    model = report.get("model")
    o = report.get("options", {})
    out = [
        "<!doctype html><html><head><meta charset='utf-8'><title>aquaembed failure report</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Failure report: {_esc(report.get('dataset', ''))} / {_esc(model or '')}</h1>",
        f"<p class='muted'>conf {o.get('conf')}, IoU {o.get('iou')}, mode {o.get('mode')}"
        + (f", custom metric {_esc(report['metric'])}" if report.get("metric") else "") + "</p>",
    ]
    cmp = report.get("compare")
    if cmp:
        a, b = cmp["models"]
        n = cmp.get("labels") or {}
        out.append(f"<p><b>Where {_esc(b)} regressed against {_esc(a)}</b>: clusters and slices of the "
                   f"{n.get('broken', 0)} labels {_esc(b)} broke (TP under {_esc(a)}, not under {_esc(b)}); "
                   f"{n.get('fixed', 0)} fixed.</p>")
    for section, note in (report.get("notes") or {}).items():
        out.append(f"<p class='muted'>{_esc(section)}: {_esc(note)}</p>")
    out.append(f"<h2>Failure clusters ({len(report.get('clusters', []))})</h2>")
    for c in report.get("clusters", [])[:max_clusters]:
        classes = ", ".join(f"{k} {v}" for k, v in c["classes"].items())
        over = "; ".join(f"{r['field']}={r['value']} ({r['share']:.0%} vs {r['share_rest']:.0%}, lift {r['lift']:.1f})" for r in c["over_represented"])
        imgs = [u for u in (_thumb(view, model, t) for t in c["typical"]) if u]
        out.append(
            f"<div class='card'><b>#{c['id']} {c['type']}</b> &times;{c['size']} &middot; score {c['score']:.3f} "
            f"&middot; {_esc(classes)}<br><span class='muted'>{_esc(over) or 'no over-represented metadata'}"
            f" &middot; {len(c['frames'])} frames</span>"
            f"<div class='thumbs'>{''.join(f'<img src={u!r}>' for u in imgs)}</div></div>"
        )
    slices = report.get("slices", [])
    out.append(f"<h2>Slices that depart from the rest ({len(slices)})</h2><table>")
    out.append("<tr><th>slice</th><th>class</th><th>metric</th><th>in slice</th><th>rest</th><th>interval (blue) vs rest (red)</th><th>q</th><th>frames</th></tr>")
    for s in slices[:max_slices]:
        out.append(
            f"<tr class='{s['direction']}'><td>{_esc(s['field'])} = {_esc(s['value'])}</td><td>{_esc(s['class'] or 'all')}</td>"
            f"<td>{s['metric']}</td><td>{s['in_slice']:.3f}</td><td>{s['rest']:.3f}</td>"
            f"<td>{_interval_svg(s['in_slice'], s['rest'], s['interval'])}</td><td>{s['q_value']:.2g}</td><td>{s['frames']}</td></tr>"
        )
    out.append("</table>")
    cov = report.get("coverage")
    if cov:
        out.append(f"<h2>Training-set coverage ({_esc(cov['train'])})</h2>")
        out.append(
            f"<p>{cov['frames_with_near_duplicate']} evaluated frames have a near-duplicate (similarity &ge; "
            f"{cov['near_duplicate_threshold']}) in the training set. Bars: frames per similarity bin; dots: F1.</p>"
        )
        out.append(_coverage_svg(cov["by_similarity"]))
        out.append("<table><tr><th>slice</th><th>frames</th><th>mean similarity</th><th>near-duplicate share</th></tr>")
        for r in cov.get("by_slice", [])[:15]:
            out.append(
                f"<tr><td>{_esc(r['field'])} = {_esc(r['value'])}</td><td>{r['frames']}</td>"
                f"<td>{r['mean_similarity']:.3f}</td><td>{r['near_duplicate_share']:.0%}</td></tr>"
            )
        out.append("</table>")
    if report.get("label_issues"):
        out.append(f"<h2>Label issues ({len(report['label_issues'])})</h2><table>")
        out.append("<tr><th>kind</th><th>label</th><th>inference</th><th>frame</th><th>score</th><th>reason</th></tr>")
        for li in report["label_issues"][:50]:
            out.append(
                f"<tr><td>{_esc(li.get('kind'))}</td><td>{_esc(li.get('label_id'))}</td><td>{_esc(li.get('pred_index'))}</td>"
                f"<td>{_esc(li.get('frame'))}</td><td>{_esc(li.get('score'))}</td><td>{_esc(li.get('reason', ''))}</td></tr>"
            )
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report_html(path: str | os.PathLike[str], report: dict[str, Any], view: Any) -> None:
    """Write :func:`render_report_html` to ``path`` atomically."""
    atomic_write_bytes(Path(path), render_report_html(report, view).encode())
