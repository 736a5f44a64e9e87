# Helpers shared by the rules: config validation, paths, and input functions.
import csv
import json
import os
import shlex
from functools import cache
from pathlib import Path

from snakemake.utils import validate


validate(config, "../schemas/config.schema.yaml")
# metrics and metric_options against the metric registry too (the schema's enum mirrors metrics/registry.py)
from metrics.registry import check_config as check_metric_config

check_metric_config(config["metrics"], config.get("metric_options"))

W = config["workdir_root"]
R = config["results_dir"]
STAGE_TIMES = f"{W}/benchmarks"
ABLATION_PREFIX = "STSA@"


wildcard_constraints:
    dataset=r"[A-Za-z0-9_-]+",
    split=r"[A-Za-z0-9_-]+",
    method=r"[A-Za-z0-9_@.+-]+",
    variant=r"[a-z_]+",
    clip=r".+",
    batch=r"\d+",


def canonical(value):
    """A config value with dict keys sorted at every level: Snakemake compares params as text, so key order in
    the YAML must not re-run jobs."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def dataset_cfg(dataset):
    """The config block of a dataset, with a clear error for unknown names."""
    try:
        return config["datasets"][dataset]
    except KeyError:
        raise ValueError(f"dataset '{dataset}' is not configured under 'datasets:' in the config") from None


def dataset_root(dataset):
    """The dataset root: the configured one, or the demo corpus the workflow generates."""
    root = dataset_cfg(dataset)["root"]
    return root if root else f"{W}/corpus/{dataset}"


def parent_of_output(wildcards, output):
    """Directory of a rule's first output (for tools that write a whole directory)."""
    return str(Path(output[0]).parent)


def check_eval_limits():
    """``eval_limit`` limits the test split only: refuse a config whose test split is also its train split."""
    for name, cfg in config["datasets"].items():
        if cfg.get("eval_limit") and cfg["test_split"] == cfg.get("train_split"):
            raise ValueError(f"datasets.{name}: eval_limit would also limit training, since test_split and "
                             f"train_split are both '{cfg['test_split']}'; use distinct splits or eval_limit: null")


def split_limit(dataset, split):
    """Clips listed from a split: the first ``eval_limit`` of the test split (the paper evaluates 40), all of any
    other split (training uses its whole split)."""
    cfg = dataset_cfg(dataset)
    return cfg.get("eval_limit") if split == cfg["test_split"] else None


def listing_params(wildcards):
    """What a split's listing depends on (reader, root, layout, limit), so editing another dataset key or another
    split's limit leaves the listing alone."""
    cfg = dataset_cfg(wildcards.dataset)
    return canonical({
        "reader": cfg["reader"],
        "root": dataset_root(wildcards.dataset),
        "layout": cfg.get("layout", {}),
        "limit": split_limit(wildcards.dataset, wildcards.split),
    })


def corpus_marker(wildcards):
    """The synth job's marker when the dataset is the generated demo corpus, else nothing."""
    if dataset_cfg(wildcards.dataset)["root"]:
        return []
    return f"{W}/corpus/{wildcards.dataset}/.complete"


@cache
def read_listing(path, mtime):
    """clip id -> row (video, audio, split) of a listing TSV; cached per file version (48k clips are looked up
    once per clip while the DAG is built)."""
    with open(path, newline="") as handle:
        return {row["clip"]: row for row in csv.DictReader(handle, delimiter="\t")}


def listing_path(dataset, split):
    """The list_clips checkpoint's output for a split."""
    return f"{W}/lists/{dataset}/{split}.tsv"


def listing(dataset, split):
    """The listed clips of a split, known once the list_clips checkpoint has run (the asking job waits for it)."""
    path = checkpoints.list_clips.get(dataset=dataset, split=split).output[0]
    return read_listing(path, os.stat(path).st_mtime_ns)


def clip_ids(dataset, split):
    """Clip ids of a split, in listing order."""
    return list(listing(dataset, split))


def clip_row(wildcards):
    """The listing row of one clip."""
    rows = listing(wildcards.dataset, wildcards.split)
    if wildcards.clip not in rows:
        raise ValueError(f"clip '{wildcards.clip}' is not listed in {wildcards.dataset}/{wildcards.split}")
    return rows[wildcards.clip]


def clip_sources(wildcards):
    """A clip's own media files (video, audio if separate) as its job's only inputs, so a change to the listing
    re-runs no other clip. A listed file that is absent is left out: preprocessing records the rejection instead
    of the whole run failing, and the clip re-runs once the file appears (its input set changes)."""
    row = clip_row(wildcards)
    return {key: row[key] for key in ("video", "audio") if row[key] and os.path.exists(row[key])}


def clip_fields(wildcards):
    """A clip's listing fields (params: its job re-runs when its own paths change, not when others' do)."""
    row = clip_row(wildcards)
    return {"video": row["video"], "audio": row["audio"] or None, "split": row["split"]}


def preprocessed_dir(dataset, split):
    """Preprocessed clips of one split (each clip in <dir>/<clip id>/, see ARCHITECTURE.md)."""
    return f"{W}/preprocessed/{dataset}/{split}"


def batch_dir(dataset, split):
    """Status summaries of a split's preprocessing batches (one per `clips_per_batch` listed clips)."""
    return f"{W}/preprocess_batches/{dataset}/{split}"


def split_batches(wildcards):
    """The batch summaries a split's manifest is gathered from."""
    n_batches = -(-len(listing(wildcards.dataset, wildcards.split)) // config["clips_per_batch"])
    return [f"{batch_dir(wildcards.dataset, wildcards.split)}/{k}.json" for k in range(n_batches)]


def batch_statuses(wildcards):
    """status.json of the clips of one batch: listed clips [k * size, (k + 1) * size)."""
    size, k = config["clips_per_batch"], int(wildcards.batch)
    clips = clip_ids(wildcards.dataset, wildcards.split)[k * size:(k + 1) * size]
    root = preprocessed_dir(wildcards.dataset, wildcards.split)
    return [f"{root}/{clip}/status.json" for clip in clips]


def method_cfg(method):
    """Config of a method; ``STSA@<ablation>`` names the Table III variants of STSA."""
    if method.startswith(ABLATION_PREFIX):
        return {"adapter": "stsa", "train": True, "options": {}, "required": False}
    try:
        return config["methods"][method]
    except KeyError:
        raise ValueError(f"method '{method}' is not configured under 'methods:' in the config") from None


def stsa_variant(method):
    """Training variant of an STSA method: the ablation after '@', else the full model."""
    return method[len(ABLATION_PREFIX):] if method.startswith(ABLATION_PREFIX) else "full"


def trained_models(method):
    """Checkpoints the workflow trains for a method (empty for adapters with external weights)."""
    cfg = method_cfg(method)
    if not cfg.get("train"):
        return {}
    if cfg["adapter"] == "wav2lip":
        return {"wav2lip": f"{W}/models/wav2lip.pt"}
    if cfg["adapter"] == "stsa":
        return {"stsa": f"{W}/models/stsa/{stsa_variant(method)}/finetune.pt"}
    return {}


def dub_inputs(wildcards):
    """What a method's dubbing job needs: the preprocessed test split and the method's trained models."""
    split = dataset_cfg(wildcards.dataset)["test_split"]
    return {
        "manifest": f"{preprocessed_dir(wildcards.dataset, split)}/manifest.csv",
        **trained_models(wildcards.method),
    }


def dub_options(wildcards):
    """Adapter name and options of a method (params, so a config change re-runs only that method)."""
    cfg = method_cfg(wildcards.method)
    return canonical({"adapter": cfg["adapter"], "options": cfg.get("options", {}), "required": cfg.get("required", False)})


def train_manifest(wildcards=None):
    """Manifest of the training split the models learn from."""
    dataset = config["training"]["dataset"]
    split = dataset_cfg(dataset)["train_split"]
    if not split:
        raise ValueError(f"training.dataset '{dataset}' has no train_split in the config")
    return f"{preprocessed_dir(dataset, split)}/manifest.csv"


def table_methods(table):
    """Row methods of a table; Table III's rows are STSA ablations."""
    cfg = config["tables"][table]
    if table == "table3":
        return [f"{ABLATION_PREFIX}{a}" for a in cfg["ablations"]]
    return cfg["methods"]


def table_inputs(wildcards):
    """Per-method aggregates a table is built from."""
    dataset = config["tables"][wildcards.table]["dataset"]
    return [f"{R}/per_method/{dataset}/{m}.json" for m in table_methods(wildcards.table)]


def table_spec(wildcards):
    """Everything the table script needs to know about a table's rows."""
    cfg = config["tables"][wildcards.table]
    dataset = cfg["dataset"]
    methods = table_methods(wildcards.table)
    return {
        "name": wildcards.table,
        "dataset": dataset,
        "split": dataset_cfg(dataset)["test_split"],
        "dataset_root": dataset_root(dataset),
        "demo": not dataset_cfg(dataset)["root"],
        "methods": methods,
        "per_video": [f"{R}/per_video/{dataset}/{m}.csv" for m in methods],
    }


def config_hash():
    """Short hash of the whole (validated) config, recorded in every table."""
    import hashlib

    return hashlib.sha256(json.dumps(canonical(config), sort_keys=True, default=str).encode()).hexdigest()[:12]


def table_targets():
    """The configured tables 1 and 2 (Table III trains five more models: ask for it by name)."""
    targets = [f"{R}/{t}.csv" for t in config["tables"] if t != "table3"]
    if config.get("paper_tables"):
        targets.append(f"{R}/paper_comparison.csv")
    return targets


def print_stage_times():
    """Print the wall time each rule took in this and earlier runs (from the benchmark files)."""
    totals = {}
    for tsv in Path(STAGE_TIMES).rglob("*.tsv"):
        stage = tsv.relative_to(STAGE_TIMES).parts[0]
        with open(tsv) as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if rows:
            totals[stage] = totals.get(stage, 0.0) + float(rows[-1]["s"])
    if totals:
        print("\nWall time per stage (s, summed over its jobs):")
        for stage, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
            print(f"  {stage:<24} {seconds:8.1f}")


def synth_args(wildcards):
    """Command-line arguments of `stsa-bench synth` for a dataset's demo corpus."""
    s = dataset_cfg(wildcards.dataset)["synth"]
    if not s:
        raise ValueError(f"datasets.{wildcards.dataset}: set 'root' to a real dataset or give a 'synth' block")
    return (
        f"--layout {s['layout']} --train {s.get('train', 0)} --val {s.get('val', 0)} --test {s['test']} "
        f"--seconds {s.get('seconds', 3.0)} --seed {s.get('seed', 0)}"
    )


def train_data(wildcards, input):
    """Preprocessed clips of the training split (the directory of its manifest)."""
    return str(Path(input.manifest).parent)


def synthesis_inputs(wildcards):
    """Stage 2 needs the training split and, unless the sync loss is ablated, the SyncNet expert."""
    inputs = {"manifest": train_manifest()}
    if wildcards.variant != "no_sync":
        inputs["expert"] = f"{W}/models/expert.pt"
    return inputs


def synthesis_checkpoint(wildcards):
    """The stage-2 checkpoint a variant fine-tunes (no_ft merges the full model's stages without fine-tuning)."""
    variant = "full" if wildcards.variant == "no_ft" else wildcards.variant
    return f"{W}/models/stsa/{variant}/synthesis.pt"


def expert_flag(wildcards, input):
    """`--expert CKPT` when the variant trains with the sync loss."""
    return f"--expert {input.expert}" if "expert" in input.keys() else ""


def ablation_flag(wildcards):
    """`--ablation` value of a training variant."""
    return "none" if wildcards.variant == "full" else wildcards.variant


def gt_manifest(wildcards):
    """Manifest of the preprocessed test split (ground-truth crops, boxes, landmarks beside it)."""
    return f"{preprocessed_dir(wildcards.dataset, dataset_cfg(wildcards.dataset)['test_split'])}/manifest.csv"


def parent_of_input(name):
    """Param function: the directory of the named input."""

    def parent(wildcards, input):
        return str(Path(input[name]).parent)

    return parent


def gt_cache_dir(wildcards):
    """Ground-truth features (Inception statistics, landmarks, flows) cached once per dataset."""
    return f"{W}/gt_cache/{wildcards.dataset}"


def comparison_tables():
    """Tables set beside the paper's: all configured ones."""
    return list(config["tables"])


def comparison_inputs(wildcards):
    """The JSON twins of the tables compared with the paper; needs `paper_tables` in the config."""
    if not config.get("paper_tables"):
        raise ValueError("set 'paper_tables' in the config to the directory holding the paper's tables as CSV")
    return [f"{R}/{t}.json" for t in comparison_tables()]


def dub_threads():
    """Torch threads of a dubbing job, from the config's `dubbing.threads` (default 1): fixed, because CPU
    convolutions round differently at other thread counts (the demo STSA's videos moved by up to 7 grey levels
    between 1 and 2 threads), so the dubbed videos must not depend on --cores. Also the job's `threads`, so
    single-threaded dubbing jobs of different methods run side by side."""
    return config.get("dubbing", {}).get("threads", 1)


def weights_dir():
    """The config's ``weights_dir`` (``~`` expanded), or None: the jobs then use ``$STSA_BENCH_WEIGHTS`` or the
    default ~/.cache/stsa-bench/weights. Script rules export it (workflow/scripts/dub.py, evaluate.py)."""
    wdir = config.get("weights_dir")
    return os.path.expanduser(wdir) if wdir else None


def weights_env():
    """Shell prefix giving a command the config's ``weights_dir`` as ``$STSA_BENCH_WEIGHTS`` (empty when null)."""
    wdir = weights_dir()
    return f"STSA_BENCH_WEIGHTS={shlex.quote(wdir)} " if wdir else ""


def steps_flag(key):
    """`--steps N` when the config sets the number of steps of a training stage, else the preset's schedule."""
    steps = config["training"].get(key)
    return "" if steps is None else f"--steps {steps}"


def train_flags(wildcards):
    """How every training job runs, from the `training:` config: the torch threads of the training computation
    (fixed, so the weights do not depend on --cores; the job's other cores become DataLoader workers, which do not
    change them), autocast precision, periodic-checkpoint interval and how many are kept."""
    t = config["training"]
    every = t.get("save_every")
    return (
        f"--threads {t.get('threads', 1)} --precision {t.get('precision', 'fp32')} "
        f"--keep {t.get('keep_checkpoints', 3)}" + ("" if every is None else f" --save-every {every}")
    )


def train_gpus(wildcards):
    """GPUs of a training job, its resource `gpu` (the Slurm profile may set it per job). More than one trains
    data-parallel with one process per GPU (`--nproc`, torchrun)."""
    return config["training"].get("gpus", 0)


def checkpoint_dir(job_name):
    """Param function, the periodic checkpoints of a training job, per variant when it has one. They are not
    outputs, so they survive a failed or killed job, and the job's next run resumes from the newest one."""

    def directory(wildcards):
        return str(Path(W, "checkpoints", job_name, wildcards.get("variant", "")))

    return directory


check_eval_limits()
