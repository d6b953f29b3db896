"""``report.html``: the whole evaluation on one self-contained page.

Per metric a plot of the metric against the hole-ratio bucket for every method
(solid: all images of the bucket; dashed: N, no hole near the border; dotted:
B), the Table-1 tables of ``report.md``, the known-pixel drift per method, the
sample grids and, per method and bucket, its worst images (masked input,
composite, ground truth; :mod:`inpaint.evaluation.report.worst`). Nothing is
fetched: plots are inline SVG, pictures ``data:`` URIs, the style sheet inline;
the page opens offline and can be mailed as one file.
"""
from __future__ import annotations

import base64
import dataclasses
import math
from html import escape
from pathlib import Path

from ..bins import ALL, LAMA_LABELS, N_BUCKETS, cell_title
from ..pairing import pair_stem
from ..plan import EvalPlan
from .summary import read_per_image
from .svg import DASHES, PALETTE, Series, line_plot
from .worst import worst_metric, worst_path, worst_rows

TITLES = {"l1": "L1 (%) ↓", "psnr": "PSNR (dB) ↑", "ssim": "SSIM ↑", "lpips": "LPIPS ↓", "iscore": "IS ↑",
          "fid": "FID ↓", "pids": "P-IDS (%) ↑", "uids": "U-IDS (%) ↑", "known_drift": "known drift (0-255) ↓"}
STYLE = """body{font-family:sans-serif;margin:24px;max-width:1300px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}h3{font-size:14px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}
.table{overflow-x:auto}.bucket{display:flex;flex-wrap:wrap;align-items:flex-start;gap:4px;border-top:1px dashed #ddd}
.bucket>b{width:80px;font-size:12px;padding-top:6px}
td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){text-align:left}
.warn{background:#fff3cd;border:1px solid #e0c060;padding:6px 10px;margin:6px 0}
.plots{display:flex;flex-wrap:wrap;gap:12px}figure{margin:4px 8px 12px 0;display:inline-block;vertical-align:top}
figcaption{font-size:11px;color:#555;width:0;min-width:100%}img{image-rendering:auto;max-width:100%}"""


def data_uri(path: Path) -> str:
    """A file as a ``data:`` URI (PNG or JPEG by suffix)."""
    kind = "jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "png"
    return f"data:image/{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def markdown_table_html(markdown: str) -> str:
    """An HTML ``<table>`` from a Markdown pipe table (the first row is the header, the second the rule)."""
    lines = [ln.strip().strip("|").split("|") for ln in markdown.strip().splitlines()]
    head = "".join(f"<th>{escape(c.strip())}</th>" for c in lines[0])
    body = "".join("<tr>" + "".join(f"<td>{escape(c.strip())}</td>" for c in row) + "</tr>" for row in lines[2:])
    return f"<table><tr>{head}</tr>{body}</table>"


def _value(r: dict | None, metric: str) -> float | None:
    if r is None or metric not in r:
        return None
    v = float(r[metric])
    return 100 * v if metric in ("pids", "uids") else v


def metric_plots(plan: EvalPlan, results: list[dict]) -> list[str]:
    """One SVG per metric (and known drift): every method's mean per bucket, per group for the paper's buckets."""
    c = plan.config
    cells = {(r["method"], r["bucket"], r["group"]): r for r in results}
    if c.bins == "lama":
        xs, groups = list(LAMA_LABELS), [(ALL, "all")]
    else:
        xs, groups = [str(b) for b in range(1, N_BUCKETS + 1)], [(ALL, "all"), ("noborder", "N"), ("border", "B")]
    xlabels = xs if c.bins == "lama" else [cell_title(b, ALL, "paper").replace(" all", "") for b in xs]
    plots = []
    for metric in (*c.metrics, "known_drift"):
        series = [Series(f"{s.label} {short}", PALETTE[j % len(PALETTE)], DASHES[short],
                         tuple(_value(cells.get((s.label, b, g)), metric) for b in xs))
                  for j, s in enumerate(plan.specs) for g, short in groups]
        series = [s if any(v is not None and math.isfinite(v) for v in s.values) else
                  dataclasses.replace(s, name=f"{s.name} (inf)")  # identical outputs: named, not silently left out
                  for s in series if any(v is not None and not math.isnan(v) for v in s.values)]
        if series:
            plots.append(line_plot(TITLES.get(metric, metric), xlabels, series))
    return plots


def _worst_section(plan: EvalPlan) -> list[str]:
    c, out = plan.config, plan.out
    metric = worst_metric(c.per_image_metrics)
    if metric is None:
        return []
    rows = read_per_image(out, c.per_image_metrics)
    slots = {(p.bucket, p.group, p.index): k for k, p in enumerate(plan.pairs)}
    worst = worst_rows(rows, metric, slots)
    parts = [f"<h2>Worst images</h2><p>Per method and bucket, the images with the worst {TITLES[metric]} "
             "(masked input, composite, ground truth).</p>"]
    labels = {s.label: j for j, s in enumerate(plan.specs)}
    for label, j in labels.items():
        parts.append(f"<h3>{escape(label)}</h3>")
        for bucket in range(1, N_BUCKETS + 1):
            figures = []
            for r in worst.get((label, bucket), []):
                pair = next((p for p in plan.pairs if (p.bucket, p.group, p.index) == (r["bucket"], r["group"], r["index"])),
                            None)
                path = worst_path(out, j, pair) if pair else None
                if path is None or not path.exists():
                    continue
                figures.append(f'<figure><img src="{data_uri(path)}" alt="{escape(r["image"])}"><figcaption>'
                               f'<b>{escape(pair_stem(pair))}</b> ({escape(r["group"])}): {escape(r["image"])} under '
                               f'{escape(r["mask"])}, {escape(TITLES[metric])} {r[metric]:.4g}, '
                               f'drift {r["known_drift"]:.2f}</figcaption></figure>')
            if figures:
                parts.append(f'<div class="bucket"><b>bucket {bucket}</b>' + "".join(figures) + "</div>")
    return parts


def report_html(plan: EvalPlan, results: list[dict], notes: list[str], table: str) -> str:
    """The page's HTML (UTF-8 text); every picture inline; ``table`` is the Markdown Table 1 of ``report.md``."""
    c, out = plan.config, plan.out
    h, w = plan.size
    labels = [s.label for s in plan.specs]
    drift = {label: next((r["known_drift"] for r in results if r["method"] == label and r["bucket"] == ALL), 0.0)
             for label in labels}
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Inpainting evaluation</title>',
        f"<style>{STYLE}</style></head><body><h1>Inpainting evaluation</h1>",
        f"<p>Images <code>{escape(c.images)}</code>, masks <code>{escape(c.masks)}</code>, {h}x{w} px, seed {c.seed}, "
        f"{len(plan.pairs)} image/mask pairs, methods: {', '.join(f'<b>{escape(s.label)}</b> ({escape(s.kind)})' for s in plan.specs)}. "
        "Every output is composited with the ground truth on the known pixels before scoring.</p>",
        *(f'<div class="warn">Warning: {escape(n)}.</div>' for n in notes),
        "<h2>Metrics against the hole-ratio bucket</h2><p>"
        + ("One line per method: all images of each of LaMa's 10% hole-area bins ([lo, hi), both border groups)."
           if c.bins == "lama" else "Solid: all images of the bucket; dashed: N (every hole at least the margin from "
           "the border); dotted: B (some hole within it).") + "</p>",
        '<div class="plots">' + "".join(metric_plots(plan, results)) + "</div>",
        "<h2>Table 1</h2>", '<div class="table">' + markdown_table_html(table) + "</div>",
        "<h3>Known-pixel drift</h3><p>Mean |raw output - truth| over the known pixels, 0-255 (0: the method keeps "
        "them; tens: inverted mask polarity or misaligned files).</p><table><tr><th>method</th><th>known drift</th></tr>"
        + "".join(f"<tr><td>{escape(k)}</td><td>{v:.2f}</td></tr>" for k, v in drift.items()) + "</table>",
        "<h2>Sample grids</h2>",
    ]
    for bucket in sorted({p.bucket for p in plan.pairs}):
        grid = out / f"grid_{bucket}.png"
        if grid.exists():
            parts.append(f'<figure><img src="{data_uri(grid)}" alt="bucket {bucket}"><figcaption>bucket {bucket}: '
                         "original, masked, each method</figcaption></figure>")
    parts += _worst_section(plan)
    parts.append("</body></html>")
    return "\n".join(parts)
