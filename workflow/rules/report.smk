# The HTML report of the configured tables 1 and 2: results, provenance, qualitative grid, mouth-corner
# trajectories, per-video distributions and paired tests (stsa.report.build_report).
# Everything below is resolved once at parse time from the helpers in common.smk.

REPORT_TABLES = [t for t in table_targets() if Path(t).stem in config["tables"]]  # results/tableN.csv
REPORT_DATASETS = sorted({config["tables"][Path(t).stem]["dataset"] for t in REPORT_TABLES})
REPORT_GT_DIRS = {d: preprocessed_dir(d, dataset_cfg(d)["test_split"]) for d in REPORT_DATASETS}
REPORT_BOOTSTRAP = 2000  # bootstrap resamples of the confidence intervals


rule report:
    input:
        tables=REPORT_TABLES,
        provenance=[t.removesuffix(".csv") + "_provenance.json" for t in REPORT_TABLES],
        per_video=[t.removesuffix(".csv") + "_per_video.csv" for t in REPORT_TABLES],
        manifests=[f"{d}/manifest.csv" for d in REPORT_GT_DIRS.values()],
    output:
        f"{R}/report.html",
    params:
        gt_dirs=REPORT_GT_DIRS,
        dubbed_root=f"{W}/dubbed",
        n_boot=REPORT_BOOTSTRAP,
        seed=config["seed"],
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/report/report.log",
    benchmark:
        f"{STAGE_TIMES}/report/report.tsv"
    resources:
        mem_mb=4000,
    script:
        "../scripts/report.py"
