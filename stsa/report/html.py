"""HTML pieces of the report: one self-contained page (inline CSS, base64 images, no scripts, no timestamps)."""

from __future__ import annotations

import math
from html import escape

import pandas as pd

from metrics import registry

CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0 auto;max-width:1180px;padding:1em 2em;
color:#222;line-height:1.4}
h1{border-bottom:2px solid #333}h2{margin-top:2em;border-bottom:1px solid #aaa}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#f0f0f0}td.l,th.l{text-align:left}
tr.unavailable td{color:#888;background:#fafafa}
td.best{font-weight:bold}
td.better{background:#e3f4e3}td.worse{background:#f8e1e1}td.ns{color:#666}
.note{color:#666;font-size:12px}
.grid td{border:none;padding:1px 4px}.grid img{display:block;image-rendering:pixelated}
.grid th{background:none;border:none;font-weight:normal;font-size:12px}
img.fig{max-width:100%}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:13px}dt{font-weight:bold}dd{margin:0}
code{background:#f4f4f4;padding:0 3px}
"""


def arrow(metric: str) -> str:
    """'↑' for higher-is-better metrics, '↓' for lower-is-better ones, '' otherwise."""
    if metric not in registry.COLUMNS:
        return ""
    return "\u2191" if registry.COLUMNS[metric].higher_is_better else "\u2193"


def fmt(value: float, metric: str | None = None, extra: int = 0) -> str:
    """A number at the paper's precision for ``metric`` (plus ``extra`` digits); '' for NaN, '∞' for inf."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if math.isinf(value):
        return "\u221e" if value > 0 else "-\u221e"
    digits = (registry.COLUMNS[metric].precision if metric in registry.COLUMNS else 4) + extra
    return f"{value:.{digits}f}"


def fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return ""
    return "&lt;0.001" if p < 0.001 else f"{p:.3f}"


def img(b64: str, alt: str, cls: str = "fig") -> str:
    return f'<img class="{cls}" alt="{escape(alt)}" src="data:image/png;base64,{b64}">'


def results_table(table: pd.DataFrame, metrics: list[str], best: dict[str, int]) -> str:
    """The table's CSV cells as written, arrows in the header, unavailable rows grey with their reason."""
    head = "".join(f"<th>{escape(m)} {arrow(m)}</th>" for m in metrics)
    rows = []
    for i, r in table.iterrows():
        unavailable = r.get("status", "ok") != "ok"
        cells = "".join(
            f'<td{" class=best" if best.get(m) == i else ""}>{escape(str(r.get(m, "")))}</td>' for m in metrics)
        note = escape(str(r.get("note", "")))
        status = escape(str(r.get("status", "")))
        rows.append(f'<tr class="{"unavailable" if unavailable else "ok"}"><td class=l>{escape(str(r["method"]))}'
                    f'</td>{cells}<td>{escape(str(r.get("n_clips", "")))}</td><td class=l>{status}</td>'
                    f"<td class=l>{note}</td></tr>")
    return (f"<table><tr><th class=l>method</th>{head}<th>clips</th><th class=l>status</th>"
            f"<th class=l>note</th></tr>{''.join(rows)}</table>")


def provenance(prov: dict) -> str:
    """Definition list of a table's provenance (dataset, clips, config hash, checkpoints, unavailable metrics)."""
    if not prov:
        return '<p class="note">No provenance recorded (no provenance JSON beside the table).</p>'
    items = []
    for key in ("dataset", "split", "dataset_root", "demo_corpus", "n_clips", "config_hash"):
        if key in prov:
            items.append(f"<dt>{escape(key)}</dt><dd><code>{escape(str(prov[key]))}</code></dd>")
    ckpts = prov.get("checkpoints") or {}
    for method, files in sorted(ckpts.items()):
        listing = files if isinstance(files, dict) else {"": files}
        text = "<br>".join(f"{escape(str(k))}: <code>{escape(str(v))}</code>" for k, v in sorted(listing.items()))
        items.append(f"<dt>checkpoints: {escape(method)}</dt><dd>{text}</dd>")
    weights = prov.get("weights") or {}
    if isinstance(weights, dict):  # {name: sha256} (older provenance: a list of names)
        weights = [f"{name}: {sha}" for name, sha in weights.items()]
    if weights:
        items.append(f"<dt>weights</dt><dd>{'<br>'.join(f'<code>{escape(str(w))}</code>' for w in weights)}</dd>")
    for metric, settings in sorted((prov.get("metric_settings") or {}).items()):
        text = ", ".join(f"{k}={v}" for k, v in sorted(settings.items())) if isinstance(settings, dict) else settings
        items.append(f"<dt>settings: {escape(metric)}</dt><dd><code>{escape(str(text))}</code></dd>")
    for metric, reasons in sorted((prov.get("unavailable_metrics") or {}).items()):
        items.append(f"<dt>unavailable: {escape(metric)}</dt><dd>{'<br>'.join(escape(str(r)) for r in reasons)}</dd>")
    return f"<dl>{''.join(items)}</dl>"


def qualitative_grid(clip: str, frame_ids: list[int], strips: list[tuple[str, str | None, str]]) -> str:
    """One clip's grid: a row per method (label, base64 strip or None, note), a column per frame."""
    head = "".join(f"<th>frame {t}</th>" for t in frame_ids)
    rows = []
    for label, b64, note in strips:
        body = (f'<td colspan="{len(frame_ids)}">{img(b64, f"{label} {clip}", "strip")}</td>' if b64
                else f'<td colspan="{len(frame_ids)}" class="l note">{escape(note)}</td>')
        rows.append(f"<tr><td class=l>{escape(label)}<br><span class=note>{escape(note) if b64 else ''}</span></td>"
                    f"{body}</tr>")
    return f"<h4>clip <code>{escape(clip)}</code></h4><table class=grid><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def summary_table(summary: pd.DataFrame, metrics: list[str], methods: list[str]) -> str:
    """Mean [95% CI] (n) per method and metric."""
    head = "".join(f"<th>{escape(m)} {arrow(m)}</th>" for m in metrics)
    rows = []
    for method in methods:
        cells = []
        for metric in metrics:
            r = summary[(summary["method"] == method) & (summary["metric"] == metric)]
            if not len(r) or r["n"].iloc[0] == 0:
                cells.append("<td></td>")
                continue
            mean, lo, hi, n = (r[c].iloc[0] for c in ("mean", "low", "high", "n"))
            cells.append(f"<td>{fmt(mean, metric)}<br><span class=note>[{fmt(lo, metric)}, {fmt(hi, metric)}] "
                         f"n={int(n)}</span></td>")
        rows.append(f"<tr><td class=l>{escape(method)}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th class=l>method</th>{head}</tr>{''.join(rows)}</table>"


def paired_table(comparison: pd.DataFrame, reference: str, metrics: list[str]) -> str:
    """Rows = baselines, cells = mean difference (reference - baseline) [95% CI], Wilcoxon p, verdict colour."""
    head = "".join(f"<th>{escape(m)} {arrow(m)}</th>" for m in metrics)
    rows = []
    for baseline in comparison["baseline"].drop_duplicates():
        cells = []
        for metric in metrics:
            r = comparison[(comparison["baseline"] == baseline) & (comparison["metric"] == metric)]
            if not len(r) or r["n"].iloc[0] == 0:
                cells.append("<td class=ns>n/a</td>")
                continue
            r = r.iloc[0]
            cls = {"better": "better", "worse": "worse"}.get(r["verdict"], "ns")
            cells.append(f"<td class={cls}>{'+' if r['mean_diff'] >= 0 else ''}{fmt(r['mean_diff'], metric, 1)}"
                         f"<br><span class=note>[{fmt(r['low'], metric, 1)}, {fmt(r['high'], metric, 1)}]<br>"
                         f"p={fmt_p(r['p_value'])} n={int(r['n'])} {escape(r['verdict'])}</span></td>")
        rows.append(f"<tr><td class=l>{escape(str(baseline))}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th class=l>{escape(reference)} vs</th>{head}</tr>{''.join(rows)}</table>"


def page(title: str, nav: list[tuple[str, str]], sections: list[str]) -> str:
    links = " | ".join(f'<a href="#{escape(a)}">{escape(t)}</a>' for a, t in nav)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1><p>{links}</p>{''.join(sections)}"
            "</body></html>\n")
