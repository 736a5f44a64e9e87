"""The paper's tables: rows, column order and precision, provenance, and the comparison with the paper."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from metrics import registry

# Column order of the paper's Tables I-III, plus the weight-free DME backend beside DME (precision and direction of
# every column: metrics.registry).
TABLE_COLUMNS: dict[str, list[str]] = {
    "table1": ["PSNR", "SSIM", "FID", "LPIPS", "LipLMD", "LSE-D", "LSE-C", "DME", "DME[dis]"],
    "table2": ["PSNR", "SSIM", "FID", "LPIPS", "LipLMD", "DME", "DME[dis]"],
    "table3": ["PSNR", "SSIM", "FID", "LSE-C", "DME", "DME[dis]"],
}
PAPER_FILES = {"table1": "table1_lrs2.csv", "table2": "table2_cmlr.csv", "table3": "table3_ablation.csv"}
ABLATION_LABELS = {
    "no_cil": "w/o CIL", "no_sync": "w/o sync loss", "no_spatial": "w/o spatial", "no_temporal": "w/o temporal",
    "no_ft": "Ours (w/o FT)", "full": "Ours (w/ FT)",
}
ABLATION_PREFIX = "STSA@"


def unavailable_note(unavailable: dict[str, str], columns: list[str]) -> str:
    """Short note naming the table's columns a metric could not fill and why (full reasons go to the JSON)."""
    parts = []
    for metric, reason in sorted(unavailable.items()):
        spec = registry.METRICS.get(metric)
        shown = [c for c in (spec.column_names if spec else [metric]) if c in columns]
        if not shown:
            continue
        missing = re.search(r"pretrained weights '([^']+)' not found", str(reason))
        why = f"weights '{missing.group(1)}' not installed" if missing else str(reason)[:120]
        parts.append(f"{', '.join(shown)}: {why}")
    return "; ".join(parts)


def row_label(method: str) -> str:
    """Table row name of a workflow method (Table III variants get the paper's names)."""
    if method.startswith(ABLATION_PREFIX):
        return ABLATION_LABELS[method[len(ABLATION_PREFIX):]]
    return method


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def table_rows(table: str, summaries: list[dict]) -> pd.DataFrame:
    """One row per method from the evaluator's per-method summaries: values at full precision, plus status."""
    columns = TABLE_COLUMNS[table]
    rows = []
    for summary in summaries:
        values = summary.get("metrics", summary)
        unavailable = summary.get("unavailable", {})
        produced = summary.get("clips_dubbed", 0) > 0
        row = {"method": row_label(summary["method"])}
        row.update({c: _number(values.get(c)) if produced else math.nan for c in columns})
        if produced:
            row["status"] = "ok"
            row["note"] = unavailable_note(unavailable, columns)
        else:
            row["status"] = "unavailable"
            row["note"] = "; ".join(summary.get("run_reasons", [])) or "no clip was produced"
        row["n_clips"] = summary.get("n_clips", summary.get("clips_dubbed", 0))
        rows.append(row)
    return pd.DataFrame(rows, columns=["method", *columns, "status", "n_clips", "note"])


def format_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Round each metric column to the paper's precision (metrics.registry); missing values become empty cells."""
    out = frame.copy().astype(object)
    for column in frame.columns:
        if column in registry.COLUMNS:
            digits = registry.COLUMNS[column].precision
            out[column] = [
                "" if (v is None or not math.isfinite(float(v))) else f"{float(v):.{digits}f}" for v in frame[column]
            ]
    return out


def portable(value: Any, home: str | None = None, cwd: str | None = None) -> Any:
    """``value`` (strings, recursively in dicts/lists, keys too) without absolute home-directory or working-directory
    paths: the working directory becomes relative, the home directory ``~``."""
    home = home if home is not None else str(Path.home())
    cwd = cwd if cwd is not None else os.getcwd()
    if isinstance(value, dict):
        return {portable(k, home, cwd): portable(v, home, cwd) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(v, home, cwd) for v in value]
    if isinstance(value, str):
        if cwd not in ("", "/"):
            value = value.replace(cwd.rstrip("/") + "/", "")
        if home not in ("", "/"):
            value = re.sub(re.escape(home.rstrip("/")) + r"(?=/|$)", "~", value)
    return value


def _merged(summaries: list[dict], key: str) -> dict[str, Any]:
    """``{name: value}`` dicts of the summaries under ``key`` merged; a name with different values lists them."""
    seen: dict[str, list] = {}
    for s in summaries:
        entries = s.get(key)
        for name, value in (entries.items() if isinstance(entries, dict) else []):
            if value not in seen.setdefault(name, []):
                seen[name].append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in sorted(seen.items())}


def provenance(spec: dict, summaries: list[dict], config_hash: str) -> dict:
    """What produced a table: data, config, checkpoints, the metric weights actually loaded ({name: sha256}), the
    metrics' protocol settings (e.g. which LSE protocol), unavailable metrics and why. No absolute home or working
    directory paths (``portable``)."""
    unavailable: dict[str, set[str]] = {}
    for s in summaries:
        for metric, reason in s.get("unavailable", {}).items():
            unavailable.setdefault(metric, set()).add(str(reason))
    return portable({
        "table": spec["name"],
        "dataset": spec["dataset"],
        "dataset_root": spec["dataset_root"],
        "demo_corpus": spec["demo"],
        "split": spec["split"],
        "n_clips": max((s.get("n_clips", s.get("clips_dubbed", 0)) for s in summaries), default=0),
        "config_hash": config_hash,
        "checkpoints": {row_label(s["method"]): s.get("checkpoints", {}) for s in summaries if s.get("checkpoints")},
        "weights": _merged(summaries, "weights"),
        "metric_settings": _merged(summaries, "settings"),
        "unavailable_metrics": {m: sorted(r) for m, r in sorted(unavailable.items())},
    })


def write_table(spec: dict, summary_paths: list[Path], config_hash: str, out_csv: Path, out_json: Path,
                out_per_video: Path, out_provenance: Path) -> pd.DataFrame:
    """Build one table from per-method summaries and write the CSV, its JSON twin (numbers only: the DVC metrics),
    the per-video table and the provenance JSON (strict JSON: no NaN/Infinity)."""
    from metrics.evaluator import dumps_strict

    summaries = [json.loads(Path(p).read_text()) for p in summary_paths]
    rows = table_rows(spec["name"], summaries)
    format_table(rows).to_csv(out_csv, index=False)
    columns = TABLE_COLUMNS[spec["name"]]
    numeric = {
        r["method"]: {c: (round(float(r[c]), 6) if math.isfinite(r[c]) else None) for c in columns}
        for _, r in rows.iterrows()
    }
    out_json.write_text(json.dumps({"rows": numeric}, indent=1, sort_keys=True, allow_nan=False))
    out_provenance.write_text(dumps_strict(provenance(spec, summaries, config_hash), indent=1, sort_keys=True))
    frames = [pd.read_csv(p, dtype={"clip": str}) for p in spec["per_video"] if Path(p).exists()]
    per_video = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if "method" in per_video:
        per_video["method"] = per_video["method"].map(row_label)
    per_video.to_csv(out_per_video, index=False)
    return rows


def paper_comparison(results_dir: Path, paper_dir: Path, tables: list[str]) -> pd.DataFrame:
    """Each regenerated value beside the paper's, with the difference (regenerated - paper)."""
    records = []
    for table in tables:
        ours_path, paper_path = results_dir / f"{table}.json", paper_dir / PAPER_FILES[table]
        if not ours_path.exists() or not paper_path.exists():
            continue
        ours = json.loads(ours_path.read_text())["rows"]
        paper = pd.read_csv(paper_path)
        key = paper.columns[0]  # "method" or "variant"
        for _, prow in paper.iterrows():
            for column in paper.columns[1:]:
                theirs = _number(prow[column])
                mine = _number((ours.get(prow[key]) or {}).get(column))
                records.append({"table": table, "row": prow[key], "metric": column, "paper": theirs,
                                "regenerated": mine, "difference": mine - theirs})
    return pd.DataFrame(records, columns=["table", "row", "metric", "paper", "regenerated", "difference"])


def register(subparsers) -> None:
    """`stsa-bench compare`: the regenerated tables beside the paper's."""
    parser = subparsers.add_parser("compare", help="set regenerated tables beside the paper's values")
    parser.add_argument("--results", type=Path, default=Path("results"), help="directory with tableN.json")
    parser.add_argument("--paper", type=Path, required=True, help="directory with the paper's tables as CSV")
    parser.add_argument("--out", type=Path, default=Path("results/paper_comparison.csv"))
    parser.set_defaults(func=_compare_main)


def _compare_main(args) -> int:
    from stsa.errors import DatasetError

    if not args.paper.is_dir():
        raise DatasetError(args.paper, "paper tables directory not found", "pass --paper DIR with table1_lrs2.csv ...")
    table = paper_comparison(args.results, args.paper, list(TABLE_COLUMNS))
    table.to_csv(args.out, index=False)
    print(f"{len(table)} values compared -> {args.out}")
    return 0
