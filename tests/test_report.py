"""The HTML report: bootstrap CIs, paired tests, LK trajectories, and the rendered page (headless Chromium)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from stsa.data.clip import ClipData, write_status
from stsa.data.crops import crop_faces
from stsa.data.landmarks import MESH_IDS
from stsa.data.video import read_frames, write_video
from stsa.report import ReportConfig, build_report
from stsa.report.stats import bootstrap_mean_ci, compare_to, paired_comparison
from stsa.report.trajectories import MOUTH_CORNERS, mouth_corners, track_points
from stsa.tables import write_table

# ---------------------------------------------------------------------------------------------- statistics


def test_bootstrap_ci_contains_true_mean_and_is_seeded():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 1.0, 200)
    ci = bootstrap_mean_ci(x, n_boot=2000, seed=0)
    assert ci.n == 200 and ci.mean == pytest.approx(x.mean())
    assert ci.low < 3.0 < ci.high
    # width close to the normal-theory interval 2 * 1.96 * s / sqrt(n)
    assert ci.high - ci.low == pytest.approx(2 * 1.96 * x.std(ddof=1) / np.sqrt(200), rel=0.15)
    assert bootstrap_mean_ci(x, 2000, 0) == ci  # seeded: identical
    assert bootstrap_mean_ci(x, 2000, 1) != ci
    # inf (GT's PSNR) and NaN are left out
    assert bootstrap_mean_ci(np.r_[x, np.inf, np.nan], 2000, 0) == ci


def test_bootstrap_ci_coverage_near_nominal():
    rng = np.random.default_rng(7)
    hits = 0
    for i in range(200):
        x = rng.exponential(2.0, 40)  # skewed, true mean 2
        ci = bootstrap_mean_ci(x, n_boot=500, seed=i)
        hits += ci.low <= 2.0 <= ci.high
    assert 0.85 <= hits / 200 <= 0.99


def test_paired_comparison_detects_constant_improvement():
    rng = np.random.default_rng(0)
    base = rng.normal(30.0, 2.0, 20)
    up = paired_comparison(base + 0.5, base, higher_better=True, n_boot=1000, seed=0)
    assert up.verdict == "better" and up.n == 20
    assert up.mean_diff == pytest.approx(0.5) and up.low == pytest.approx(0.5) and up.high == pytest.approx(0.5)
    assert up.p_value < 1e-4  # tied differences: scipy's normal approximation
    distinct = paired_comparison(base + np.linspace(0.1, 0.6, 20), base, higher_better=True)
    assert distinct.p_value == pytest.approx(2 / 2**20)  # exact two-sided Wilcoxon, all 20 ranks positive
    assert paired_comparison(base + 0.5, base, higher_better=False).verdict == "worse"  # e.g. LPIPS up = worse
    assert paired_comparison(base - 0.01, base, higher_better=False).verdict == "better"
    same = paired_comparison(base, base, higher_better=True)
    assert same.verdict == "n.s." and same.p_value == 1.0
    noise = paired_comparison(base + rng.normal(0, 1, 20), base, higher_better=True)
    assert noise.verdict == "n.s." and noise.low < 0 < noise.high


def test_compare_to_pairs_by_clip():
    clips = [f"c{i}" for i in range(15)]
    rng = np.random.default_rng(3)
    lp = rng.uniform(0.1, 0.3, 15)
    rows = [{"method": "B", "clip": c, "status": "ok", "LPIPS": v} for c, v in zip(clips, lp, strict=True)]
    # STSA listed in another clip order and missing one clip: pairing must follow clip ids
    rows += [{"method": "STSA", "clip": c, "status": "ok", "LPIPS": v - 0.02}
             for c, v in reversed(list(zip(clips[1:], lp[1:], strict=True)))]
    rows += [{"method": "GT", "clip": c, "status": "ok", "LPIPS": 0.0} for c in clips]
    cmp = compare_to(pd.DataFrame(rows), "STSA", ["LPIPS"], n_boot=500)
    assert list(cmp["baseline"]) == ["B"]  # GT excluded
    r = cmp.iloc[0]
    assert r["n"] == 14 and r["mean_diff"] == pytest.approx(-0.02) and r["verdict"] == "better"


# ---------------------------------------------------------------------------------------------- trajectories


def _texture(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (size, size)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


def test_lk_tracks_known_subpixel_translation():
    tex = _texture(192, 0)
    T, v = 12, np.array([0.6, -0.35])  # px per frame (x, y)
    frames = []
    for t in range(T):
        m = np.float32([[1, 0, -32 + v[0] * t], [0, 1, -32 + v[1] * t]])
        frames.append(np.clip(cv2.warpAffine(tex, m, (128, 128), flags=cv2.INTER_CUBIC), 0, 255).astype(np.uint8))
    frames = np.stack(frames)[..., None].repeat(3, -1)  # (T, 128, 128, 3)
    start = np.array([[44.0, 80.0], [84.0, 80.0]], np.float32)  # "mouth corners"
    tracks = track_points(frames, start)
    expected = start[None] + np.arange(T)[:, None, None] * v[None, None]
    assert tracks.shape == (T, 2, 2)
    assert np.abs(tracks - expected).max() < 0.2


def test_mouth_corners_are_facemesh_61_and_291():
    lms = np.zeros((131, 2), np.float32)
    lms[MESH_IDS.index(61)] = (0.25, 0.75)
    lms[MESH_IDS.index(291)] = (0.75, 0.70)
    assert MOUTH_CORNERS == (91, 101)
    np.testing.assert_allclose(mouth_corners(lms, 128), [[32, 96], [96, 89.6]], atol=1e-4)


# ---------------------------------------------------------------------------------------------- full report

H, W, T = 112, 144, 16
HOME = str(Path.home())
BOX = (24, 8, 120, 104)  # 96x96 face box -> 128x128 crop


def _frames(seed: int) -> np.ndarray:
    tex = _texture(W + 2 * T, seed)
    rgb = np.stack([tex, np.roll(tex, 7, 0), np.roll(tex, 13, 1)], -1)
    return np.stack([np.clip(rgb[t:t + H, t // 2:t // 2 + W], 0, 255).astype(np.uint8) for t in range(T)])


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """results/ (table1 via stsa.tables.write_table), a 2-clip preprocessed GT dir and a dubbed dir."""
    root = tmp_path_factory.mktemp("bench")
    gt_dir, dubbed, res = root / "pre/lrs2/test", root / "dubbed", root / "results"
    res.mkdir()
    clips = ["spk1/00001", "spk2/00002"]
    rng = np.random.default_rng(0)
    for i, clip in enumerate(clips):
        d = gt_dir / clip
        write_video(d / "video.mp4", _frames(i))
        frames = read_frames(d / "video.mp4")
        boxes = np.tile(np.array([BOX], np.int32), (T, 1))
        lms = rng.uniform(0.2, 0.8, (T, 131, 2)).astype(np.float16)
        ClipData(crops=crop_faces(frames, boxes), boxes=boxes, landmarks=lms, detected=np.ones(T, bool),
                 mel=np.zeros((80, 4 * T), np.float32)).save(d)
        write_status(d, {"clip": clip, "status": "ok", "n_frames": T})
        noisy = np.clip(frames.astype(int) + rng.integers(-6, 7, frames.shape), 0, 255).astype(np.uint8)
        write_video(dubbed / "lrs2/STSA" / f"{clip}.mp4", noisy)
        write_video(dubbed / "lrs2/Wav2Lip" / f"{clip}.mp4", np.roll(frames, 3, axis=2))  # shifted 3 px
        write_video(dubbed / "lrs2/Reference-copy" / f"{clip}.mp4", frames[::-1])
    # per-video metrics of 12 clips (the 2 above + 10 without media): STSA better on PSNR and LPIPS
    pv_clips = clips + [f"spk3/{i:05d}" for i in range(10)]
    base = rng.normal(28, 2, len(pv_clips))
    lp = rng.uniform(0.1, 0.2, len(pv_clips))
    values = {"STSA": (base + 1.0, lp - 0.03), "Wav2Lip": (base, lp), "Reference-copy": (base - 5, lp + 0.2),
              "GT": (np.full(len(pv_clips), 100.0), np.zeros(len(pv_clips)))}  # identical frames: 100 dB
    summaries = []
    for method, (psnr, lpips) in values.items():
        pv = pd.DataFrame({"method": method, "dataset": "lrs2", "clip": pv_clips, "status": "ok", "n_frames": T,
                           "PSNR": psnr, "LPIPS": lpips, "LipLMD": np.nan, "notes": ""})
        pv.to_csv(res / f"pv_{method}.csv", index=False)
        summaries.append({"method": method, "metrics": {"PSNR": pv["PSNR"].mean(), "LPIPS": pv["LPIPS"].mean()},
                          "clips_dubbed": len(pv_clips), "n_clips": len(pv_clips),
                          "unavailable": {"fid": f"{HOME}/.cache/stsa-bench/weights/pt_inception.pth: pt_inception "
                                                 "weights missing: run stsa-bench weights fetch"},
                          "weights": {"alexnet": "ab" * 32}, "settings": {"lse": {"lse_protocol": "wav2lip_lrs"}},
                          "checkpoints": {"stsa": "work/models/stsa/full/finetune.pt"} if method == "STSA" else {}})
    summaries.append({"method": "DINet", "clips_dubbed": 0, "run_reasons": ["DINet checkpoint not found <fix it>"]})
    paths = []
    for s in summaries:
        p = res / f"sum_{s['method']}.json"
        p.write_text(json.dumps(s))
        paths.append(p)
    spec = {"name": "table1", "dataset": "lrs2", "split": "test", "dataset_root": "work/corpus/lrs2", "demo": True,
            "methods": [s["method"] for s in summaries], "per_video": [res / f"pv_{m}.csv" for m in values]}
    write_table(spec, paths, "abc123def456", res / "table1.csv", res / "table1.json", res / "table1_per_video.csv",
                res / "table1_provenance.json")
    return {"tables": [res / "table1.csv"], "gt_dirs": {"lrs2": gt_dir}, "dubbed": dubbed, "clips": clips,
            "gt_dir": gt_dir}


def test_provenance_lists_weights_and_settings_without_home_paths(results):
    """The weights actually loaded with their SHA-256, the metrics' protocol settings, no home-directory path;
    strict JSON."""
    text = (results["tables"][0].parent / "table1_provenance.json").read_text()
    prov = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert prov["weights"] == {"alexnet": "ab" * 32}
    assert prov["metric_settings"] == {"lse": {"lse_protocol": "wav2lip_lrs"}}
    assert HOME not in text and "~/.cache/stsa-bench/weights/pt_inception.pth" in text
    table = pd.read_csv(results["tables"][0], dtype=str, keep_default_na=False).set_index("method")
    assert table.loc["GT", "PSNR"] == "100.00" and table.loc["STSA", "note"].startswith("FID: ")


def test_portable_paths():
    from stsa.tables import portable

    value = {"/home/u/w/a.pt": ["/home/u/.cache/x", "/home/user2/y", "/work/proj/work/m.pt", "rel/p"]}
    assert portable(value, home="/home/u", cwd="/work/proj") == {"~/w/a.pt": ["~/.cache/x", "/home/user2/y",
                                                                              "work/m.pt", "rel/p"]}


def _images(text: str) -> list[str]:
    return re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)


def _build(results, out, **kw):
    cfg = ReportConfig(n_boot=300, seed=0, n_frames=6, n_clips=2, **kw)
    return build_report(results["tables"], results["gt_dirs"], results["dubbed"], out, config=cfg)


@pytest.fixture(scope="module")
def report(results, tmp_path_factory):
    return _build(results, tmp_path_factory.mktemp("report") / "report.html")


def test_report_content(report, results):
    text = report.read_text()
    assert "PSNR \u2191" in text and "LPIPS \u2193" in text and "LSE-D \u2193" in text and "LSE-C \u2191" in text
    assert "abc123def456" in text and "work/models/stsa/full/finetune.pt" in text
    assert "pt_inception weights missing" in text  # unavailable metric with its reason
    assert "settings: lse" in text and "lse_protocol=wav2lip_lrs" in text and "alexnet: " + "ab" * 32 in text
    assert '<tr class="unavailable"><td class=l>DINet' in text
    assert "DINet checkpoint not found &lt;fix it&gt;" in text  # escaped reason
    table = pd.read_csv(results["tables"][0], dtype=str, keep_default_na=False)
    stsa_psnr = table.loc[table["method"] == "STSA", "PSNR"].item()
    assert f"<td class=best>{stsa_psnr}</td>" in text  # the CSV cell verbatim, best among compared methods
    # self-contained: no scripts, no external resources
    assert "<script" not in text and not re.search(r'(src|href)="(?!data:|#)', text)
    # paired comparison: STSA significantly better than Wav2Lip and Reference-copy on PSNR and LPIPS
    assert text.count("<td class=better>") == 4 and "<td class=worse>" not in text


def test_report_qualitative_strips_are_exact_crops(report, results):
    """The GT row of the grid is the preprocessed crops at 6 evenly spaced frames, losslessly embedded."""
    images = _images(report.read_text())
    first = cv2.imdecode(np.frombuffer(base64.b64decode(images[0]), np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    with np.load(results["gt_dir"] / results["clips"][0] / "clip.npz") as z:
        crops = z["crops"]
    ids = np.round(np.linspace(0, T - 1, 6)).astype(int)
    np.testing.assert_array_equal(first, np.concatenate(list(crops[ids]), axis=1))
    # GT + 3 methods per clip, 2 clips; 2 trajectory figures; distribution figures for PSNR and LPIPS
    assert len(images) == 2 * 4 + 2 + 2


def test_report_is_deterministic(report, results, tmp_path):
    again = _build(results, tmp_path / "again.html")
    assert again.read_bytes() == report.read_bytes()


def test_report_renders_in_headless_chromium(report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed (Debian: apt-get install -y chromium); the render check needs it")
    shot = tmp_path / "shot.png"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'prof'}",
           f"--screenshot={shot}", "--window-size=1280,2000", report.resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120)
    assert shot.is_file(), "chromium wrote no screenshot"
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (2000, 1280)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert gray.std() > 20  # text, tables and images, not a blank page
    assert (gray < 128).mean() > 0.01  # some dark content (text, crops)


def test_report_degrades_gracefully(results, tmp_path):
    """No JSON, empty per-video table, unknown dataset: the page still renders and says what is missing."""
    res = tmp_path / "results"
    res.mkdir()
    pd.DataFrame([{"method": "STSA", "PSNR": "", "status": "unavailable", "n_clips": 0,
                   "note": "stsa checkpoint missing"}]).to_csv(res / "table2.csv", index=False)
    pd.DataFrame().to_csv(res / "table2_per_video.csv", index=False)
    out = build_report([res / "table2.csv"], {}, tmp_path / "none", tmp_path / "r.html", n_boot=100)
    text = out.read_text()
    assert "Table 2" in text and "stsa checkpoint missing" in text
    assert "No provenance recorded" in text and "No per-video results" in text and "No clip with ground truth" in text


def test_report_notes_unreadable_output(results, tmp_path):
    """A corrupt method output becomes a note in its grid row; the other rows still render."""
    from stsa.report.build import qualitative

    dubbed = tmp_path / "dubbed"
    clip = results["clips"][0]
    shutil.copytree(results["dubbed"] / "lrs2/STSA", dubbed / "lrs2/STSA")
    (dubbed / "lrs2/Wav2Lip" / clip).parent.mkdir(parents=True)
    (dubbed / "lrs2/Wav2Lip" / f"{clip}.mp4").write_bytes(b"not a video")
    grid, traj = qualitative("lrs2", [clip], ["GT", "STSA", "Wav2Lip", "IP-LAP"], results["gt_dir"], dubbed,
                             ReportConfig(n_boot=10))
    assert "unreadable output" in grid and "00001.mp4 missing" in grid
    assert len(_images(grid)) == 2 and len(_images(traj)) == 1  # GT + STSA strips, one trajectory figure


def test_method_dir_maps_ablation_rows_back():
    from stsa.report.build import method_dir

    assert method_dir("Ours (w/ FT)") == "STSA@full" and method_dir("w/o CIL") == "STSA@no_cil"
    assert method_dir("Wav2Lip") == "Wav2Lip"
