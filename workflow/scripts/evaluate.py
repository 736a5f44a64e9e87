"""Snakemake script: evaluate one method on one dataset; per-video rows and the per-method summary."""

import json
import os
from pathlib import Path

import pandas as pd

from metrics.evaluator import dumps_strict, evaluate_method
from stsa.logs import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
if snakemake.params.weights_dir:
    os.environ["STSA_BENCH_WEIGHTS"] = snakemake.params.weights_dir

method, dataset = snakemake.wildcards.method, snakemake.wildcards.dataset
runs = pd.read_csv(snakemake.input.runs, dtype={"clip": str})
done = runs.loc[runs["status"] == "ok", "clip"].tolist() if len(runs) else []
device = None if snakemake.params.device == "auto" else snakemake.params.device
metric_options = snakemake.params.metric_options  # a rule param: changing the protocol re-runs the job
if done:
    per_video, summary = evaluate_method(
        gt_root=Path(snakemake.params.gt_dir), pred_dir=Path(snakemake.params.pred_dir), clip_ids=done,
        method=method, dataset=dataset, metrics=list(snakemake.params.metrics), device=device,
        cache_dir=Path(snakemake.params.cache_dir), options=dict(metric_options),
    )
else:  # the method produced nothing (adapter not ready, or every clip failed): rows carry the reasons
    per_video, summary = pd.DataFrame(), {"unavailable": {}}
failed = runs.loc[runs["status"] != "ok"] if len(runs) else runs
if len(failed):  # clips the method did not produce keep a row with the reason
    missing = failed[["clip", "status", "reason"]].assign(method=method, dataset=dataset)
    per_video = pd.concat([per_video, missing], ignore_index=True)
per_video.to_csv(snakemake.output.per_video, index=False)
checkpoints, adapters = {}, set()
for clip in done:  # what produced the outputs: adapter version and checkpoint hashes from the per-clip metadata
    meta_path = Path(snakemake.params.pred_dir) / f"{clip}.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        checkpoints.update(meta.get("checkpoints", {}))
        adapters.add(f"{meta.get('adapter')} {meta.get('version')}")
summary = {
    **summary,
    "checkpoints": checkpoints,
    "adapter": sorted(adapters),
    "method": method,
    "dataset": dataset,
    "clips_dubbed": len(done),
    "clips_failed": int(len(failed)),
    "run_status": sorted(set(runs["status"])) if len(runs) else [],
    "run_reasons": sorted({str(r) for r in failed.get("reason", []) if isinstance(r, str)}),
}
Path(snakemake.output.summary).write_text(dumps_strict(summary, indent=1, sort_keys=True))
