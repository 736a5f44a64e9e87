"""STSA training: stage 1 (guidance), stage 2 (synthesis), end-to-end fine-tuning (`stsa-bench train`)."""

STAGES = ("guidance", "synthesis", "finetune")
# Table III ablations (`--ablation`); no_ft = the two stages merged without end-to-end fine-tuning
ABLATIONS = ("none", "no_cil", "no_sync", "no_spatial", "no_temporal", "no_ft")
# autocast dtypes of training (`--precision`, stsa.train.precision)
PRECISIONS = ("fp32", "bf16", "fp16")
