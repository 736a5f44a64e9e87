"""The metric registry is the one definition of every metric: the engines, the evaluator, the tables, the report
statistics and the workflow's config schema follow it, and a new metric is one entry plus its core."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from metrics_data import make_gt

from metrics import registry
from metrics.base import Metric
from tests.conftest import ROOT

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def test_specs_are_consistent_with_their_engines_and_the_weights_manifest():
    from stsa.weights import MANIFEST

    manifest = yaml.safe_load(MANIFEST.read_text())["weights"]
    columns = [c.name for s in registry.METRICS.values() for c in s.columns]
    assert len(columns) == len(set(columns)) == len(registry.COLUMNS)
    for name, spec in registry.METRICS.items():
        engine = spec.engine_class()
        assert issubclass(engine, Metric) and engine.name == name
        assert spec.kind in registry.KINDS and set(spec.weights) <= set(manifest)
        assert spec.video_columns == (() if spec.kind == "dataset" else spec.column_names)


def test_schema_mirrors_the_registry():
    """The config schema's metric names and protocol options are the registry's (the schema cannot import it)."""
    props = yaml.safe_load(SCHEMA.read_text())["properties"]
    assert props["metrics"]["items"]["enum"] == list(registry.ALL_METRICS)
    schema_opts = props["metric_options"]["properties"]
    protocol = {n: o for n, o in registry.OPTIONS.items() if o.protocol}
    assert set(schema_opts) == set(protocol)
    for name, opt in protocol.items():
        assert schema_opts[name].get("default") == opt.default
        assert schema_opts[name].get("enum") == (list(opt.choices) if opt.choices else None)
        assert schema_opts[name].get("minimum") == opt.minimum


def test_config_presets_validate_and_the_paper_uses_the_lineage_lse():
    from snakemake.utils import validate

    for preset in ("config.yaml", "paper.yaml", "smoke.yaml"):
        cfg = yaml.safe_load((ROOT / "config" / preset).read_text())
        validate(cfg, str(SCHEMA))
        registry.check_config(cfg["metrics"], cfg.get("metric_options"))
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    assert paper["metric_options"]["lse_protocol"] == "wav2lip_lrs"


def test_check_config_rejects_what_the_registry_does_not_know():
    with pytest.raises(ValueError, match="unknown metrics"):
        registry.check_config(["psnr", "nope"])
    with pytest.raises(ValueError, match="unknown metric options"):
        registry.check_config(["psnr"], {"lse_pipeline": "full"})
    with pytest.raises(ValueError, match="run options"):
        registry.check_config(["psnr"], {"workers": 2})
    with pytest.raises(ValueError, match=">= 1"):
        registry.check_config(["dme"], {"raft_iters": 0})
    assert registry.check_options({"raft_iters": 3})["raft_iters"] == 3
    assert registry.check_options(None)["lse_protocol"] == "crops"


def test_tables_and_report_read_precision_and_direction_from_the_registry():
    from stsa.report.html import arrow, fmt
    from stsa.report.stats import higher_is_better
    from stsa.tables import format_table

    frame = pd.DataFrame({c: [1 / 3] for c in registry.COLUMNS} | {"method": ["m"]})
    row = format_table(frame).iloc[0]
    for name, col in registry.COLUMNS.items():
        assert row[name] == f"{1 / 3:.{col.precision}f}" == fmt(1 / 3, name)
        assert higher_is_better(name) is col.higher_is_better
        assert arrow(name) == ("\u2191" if col.higher_is_better else "\u2193")
    assert higher_is_better("PSNR") and higher_is_better("LSE-C") and not higher_is_better("LSE-D")
    with pytest.raises(KeyError):
        higher_is_better("n_frames")


# ---------------------------------------------------------------------------------------------- a new metric


class MeanAbs(Metric):
    """A toy metric for the test: mean absolute difference of the crops, pooled over frames."""

    name = "meanabs"

    def reset(self):
        super().reset()
        self.frames: list[np.ndarray] = []

    def video(self, pred, gt, pred_path=None):
        d = np.abs(pred.astype(np.float64) - gt.crops[:len(pred)]).mean(axis=(1, 2, 3))  # (n,)
        self.frames.append(d)
        return {"MAE": float(d.mean()), "mae_frames": len(d)}

    def compute(self):
        return {"MAE": float(np.concatenate(self.frames).mean()), "mae_frames": sum(len(f) for f in self.frames)}


@pytest.fixture
def toy_metric(monkeypatch):
    spec = registry.MetricSpec("meanabs", (registry.Column("MAE", 3, False),), "frame", f"{__name__}:MeanAbs",
                               extras=(("mae_frames", "sum"),))
    monkeypatch.setitem(registry.METRICS, spec.name, spec)
    monkeypatch.setitem(registry.COLUMNS, "MAE", spec.columns[0])
    return spec


def test_a_new_metric_is_one_registry_entry_plus_its_engine(toy_metric, tmp_path: Path):
    from metrics.evaluator import evaluate_method
    from stsa.data.video import write_video
    from stsa.report.stats import higher_is_better
    from stsa.tables import format_table, unavailable_note

    root, pred = tmp_path / "gt", tmp_path / "pred"
    frames = {c: make_gt(root, c, n=n, seed=i) for i, (c, n) in enumerate((("a", 6), ("b", 3)))}
    for c, f in frames.items():
        write_video(pred / f"{c}.mp4", np.clip(f.astype(int) + 9, 0, 255).astype(np.uint8))
    df, agg = evaluate_method(root, pred, ["a", "b"], "m", "d", ["psnr", "meanabs"], device="cpu")
    assert list(df.columns[5:8]) == ["PSNR", "MAE", "notes"] and df["MAE"].between(5, 12).all()
    assert agg["MAE"] == pytest.approx((6 * df.loc[0, "MAE"] + 3 * df.loc[1, "MAE"]) / 9)  # pooled ("frame")
    assert agg["mae_frames"] == 9 and math.isfinite(agg["PSNR"])
    assert format_table(pd.DataFrame({"MAE": [agg["MAE"]]})).loc[0, "MAE"] == f"{agg['MAE']:.3f}"
    assert higher_is_better("MAE") is False
    assert unavailable_note({"meanabs": "weights 'x' missing"}, ["MAE"]) == "MAE: weights 'x' missing"
