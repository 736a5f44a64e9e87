# stsa-bench: regenerate the STSA paper's tables.
#   snakemake --cores all results/table1.csv                    (demo corpus, built in)
#   snakemake --cores all --configfile config/paper.yaml all    (real LRS2/CMLR + released weights)
from snakemake.utils import min_version

min_version("8.0")


# The demo config, unless config files are given (`--configfile`): those replace it instead of being merged into
# it, so no demo key (e.g. `train: true` of a method) leaks into the paper profile. `--config KEY=VALUE` overrides.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/dub.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/report.smk"


# Quick bookkeeping jobs run in the Snakemake process itself, never as cluster jobs.
localrules:
    list_clips,
    manifest,
    table,
    paper_comparison,
    report,


rule all:
    input:
        table_targets(),
        f"{R}/report.html",
    default_target: True


onsuccess:
    print_stage_times()
