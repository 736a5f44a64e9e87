"""Metric throughput: the evaluator (batched, GT features cached) vs a straightforward per-frame reference loop
(skimage per frame, FaceMesh per frame, DIS/RAFT per pair, lpips/Inception per frame, syncnet-python's
``SyncNetInstance.evaluate`` per video), side by side in one run, asserting the same values.

(a) weight-free metrics: psnr ssim liplmd dme_dis; (b) all metrics, with RANDOM-weight networks written to a temp
weights dir (timing and agreement only: these numbers are not scores).

    .venv/bin/python benchmarks/metrics.py [--videos 2] [--frames 24] [--skip-networks | --only-networks]
        [--raft-iters 20] [--workers N] [--methods 8]

Evaluator timings: "cold" = first method on a dataset (GT features computed), FaceMesh workers started inside
the timing (a fresh process, as each ``stsa-bench evaluate`` / workflow job); "cached, new process" = a further
method, workers started again; "cached, workers reused" = a further method in the same process. "table of M
methods" = one cold + M-1 cached-new-process runs vs M reference loops. Heavy modules (mediapipe, skimage, cv2,
torch) are imported before any timing, so neither side pays imports.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("STSA_BENCH_SHARED", ROOT.parent / "shared"))


def make_dataset(tmp: Path, n_videos: int, n_frames: int) -> tuple[Path, Path, list[str]]:
    """GT clips cut from the real face clips (or textures when ../shared is absent), predictions = GT with a
    small per-frame shift and noise, all as the evaluator expects them."""
    import cv2
    import soundfile as sf

    from stsa.data.audio import load_wav
    from stsa.data.clip import ClipData, write_status
    from stsa.data.crops import crop_faces
    from stsa.data.video import read_frames, write_video

    gt_root, pred_dir = tmp / "gt", tmp / "pred"
    real = sorted((SHARED / "clips" / "real").glob("0*.mp4"))
    rng = np.random.default_rng(0)
    ids = []
    for v in range(n_videos):
        cid = f"clip{v:02d}"
        d = gt_root / cid
        d.mkdir(parents=True)
        if real:
            src = real[v % len(real)]
            frames = read_frames(src)[:n_frames]
            import subprocess

            from stsa.data.video import ffmpeg_exe

            subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(src), "-ac", "1", "-ar", "16000",
                            str(tmp / "a.wav")], check=True)
            wav = load_wav(tmp / "a.wav")[:n_frames * 640]
            boxes = np.tile(np.array([[32, 40, 192, 200]], np.int32), (len(frames), 1))
        else:
            tex = cv2.resize(rng.integers(0, 256, (80, 80, 3), dtype=np.uint8), (320, 320))
            frames = np.stack([tex[i:i + 224, i:i + 224] for i in range(n_frames)])
            wav = (0.1 * rng.standard_normal(n_frames * 640)).astype(np.float32)
            boxes = np.tile(np.array([[32, 40, 192, 200]], np.int32), (len(frames), 1))
        write_video(d / "video.mp4", frames)
        frames = read_frames(d / "video.mp4")
        sf.write(d / "audio.wav", wav, 16000, subtype="PCM_16")
        n = len(frames)
        ClipData(crops=crop_faces(frames, boxes), boxes=boxes, landmarks=np.zeros((n, 131, 2), np.float16),
                 detected=np.ones(n, bool), mel=np.zeros((80, 4 * n), np.float32)).save(d)
        write_status(d, {"clip": cid, "status": "ok", "n_frames": n})
        shifted = np.roll(frames, 2, axis=2).astype(int) + rng.integers(-6, 7, frames.shape)
        write_video(pred_dir / f"{cid}.mp4", np.clip(shifted, 0, 255).astype(np.uint8))
        ids.append(cid)
    return gt_root, pred_dir, ids


def write_random_weights(wdir: Path) -> dict[str, Path]:
    """Random-initialised state dicts under the manifest's file names, and a manifest copy with their hashes."""
    import torch
    import torchvision
    from pytorch_fid import inception
    from syncnet_python.SyncNetModel import S

    from tests.metrics_data import save_weights

    torch.manual_seed(0)
    with mock.patch.object(torch.nn.Module, "load_state_dict", lambda self, *a, **k: None), \
            mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: {}):
        fid_net = inception.fid_inception_v3()
    states = {"pt_inception": fid_net.state_dict(), "alexnet": torchvision.models.alexnet().state_dict(),
              "syncnet_v2": S().state_dict(),
              "raft_large": torchvision.models.optical_flow.raft_large().state_dict()}
    paths = save_weights(states, wdir)
    os.environ["STSA_BENCH_WEIGHTS"] = str(wdir)
    os.environ["STSA_BENCH_WEIGHTS_MANIFEST"] = str(wdir / "manifest.yaml")
    os.environ["TORCH_HOME"] = str(wdir / "torch")
    return paths


def reference_loop(gt_root: Path, pred_dir: Path, ids: list[str], metrics: list[str], paths: dict,
                   raft_iters: int = 20) -> dict:
    """Per-frame / per-pair / per-video reference computations -> {column: mean over videos} (+ FID)."""
    import cv2
    import torch
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from stsa.data.crops import crop_faces
    from stsa.data.facemesh import FaceMeshDetector
    from stsa.data.landmarks import LIP, MESH_IDS
    from stsa.data.video import read_frames

    rows: dict[str, list[float]] = {}
    pairs: dict[str, list[float]] = {}  # DME: Dyco pools every pair of every video
    lip_ids = [MESH_IDS[i] for i in LIP]
    det = FaceMeshDetector(pad=0.25) if "liplmd" in metrics else None
    lp = inc = raft = sync = None
    if "lpips" in metrics:
        import lpips

        lp = lpips.LPIPS(net="alex", verbose=False).eval()
    if "fid" in metrics:
        from pytorch_fid import inception

        state = torch.load(paths["pt_inception"], weights_only=True)
        with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state):
            inc = inception.InceptionV3([3]).eval()
        feats = {"pred": [], "gt": []}
    if "dme" in metrics:
        raft = torchvision_raft(paths["raft_large"])
    if "lse" in metrics:
        from syncnet_python.SyncNetInstance import SyncNetInstance
        from syncnet_python.SyncNetModel import S

        sync = SyncNetInstance(net=S(), device="cpu")
        sync.loadParameters(str(paths["syncnet_v2"]))

    def add(col, v):
        rows.setdefault(col, []).append(v)

    for cid in ids:
        z = np.load(gt_root / cid / "clip.npz")
        gt = z["crops"]
        pred = crop_faces(read_frames(pred_dir / f"{cid}.mp4"), z["boxes"])
        g01, p01 = gt / 255.0, pred / 255.0
        if "psnr" in metrics:
            add("PSNR", np.mean([peak_signal_noise_ratio(a, b, data_range=1) for a, b in zip(g01, p01, strict=True)]))
        if "ssim" in metrics:
            add("SSIM", np.mean([structural_similarity(a, b, gaussian_weights=True, sigma=1.5, data_range=1,
                                                       use_sample_covariance=False, channel_axis=-1)
                                 for a, b in zip(g01, p01, strict=True)]))
        if det is not None:
            d = []
            for a, b in zip(pred, gt, strict=True):
                pa, pb = det.detect(a), det.detect(b)
                if pa is not None and pb is not None:
                    d.append(np.linalg.norm((pa[lip_ids] - pb[lip_ids]).astype(np.float64) / 128, axis=1).mean())
            add("LipLMD", np.mean(d) if d else np.nan)
        for col, flow in (("DME[dis]", dis_flow if "dme_dis" in metrics else None),
                          ("DME", (lambda a, b: raft_flow(raft, a, b, raft_iters)) if raft is not None else None)):
            if flow is None:
                continue
            errs = []
            for t in range(len(gt) - 1):
                fg, fp = flow(gt[t], gt[t + 1]), flow(pred[t], pred[t + 1])
                m = np.abs(fg).sum(0) > 1
                if m.any():
                    errs.append(np.linalg.norm(fg.astype(np.float64) - fp, axis=0)[m].mean())
            pairs.setdefault(col, []).extend(errs)
        if lp is not None:
            with torch.no_grad():
                add("LPIPS", np.mean([float(lp(torch.from_numpy(a).permute(2, 0, 1)[None].float() / 127.5 - 1,
                                               torch.from_numpy(b).permute(2, 0, 1)[None].float() / 127.5 - 1))
                                      for a, b in zip(pred, gt, strict=True)]))
        if inc is not None:
            with torch.no_grad():
                for key, fr in (("pred", pred), ("gt", gt)):
                    feats[key] += [inc(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255)[0].flatten().numpy()
                                   for f in fr]
        if sync is not None:
            with tempfile.TemporaryDirectory() as td:
                for i, f in enumerate(pred):  # PNG bytes under .jpg names: lossless, cv2.imread reads by content
                    ok, buf = cv2.imencode(".png", cv2.resize(np.ascontiguousarray(f[..., ::-1]), (224, 224)))
                    Path(td, f"{i:06d}.jpg").write_bytes(buf.tobytes())
                os.link(gt_root / cid / "audio.wav", Path(td) / "audio.wav")
                import contextlib
                import io

                with contextlib.redirect_stdout(io.StringIO()):
                    _, conf, dist = sync.evaluate(SimpleNamespace(tmp_dir=td, batch_size=20, vshift=15))
            add("LSE-D", dist)
            add("LSE-C", conf)
    out = {k: float(np.mean(v)) for k, v in rows.items()}
    out.update({k: float(np.mean(v)) if v else float("nan") for k, v in pairs.items()})
    if inc is not None:
        from pytorch_fid.fid_score import calculate_frechet_distance

        p, g = np.stack(feats["pred"]), np.stack(feats["gt"])
        out["FID"] = float(calculate_frechet_distance(p.mean(0), np.cov(p, rowvar=False),
                                                      g.mean(0), np.cov(g, rowvar=False)))
    if det is not None:
        det.close()
    return out


def dis_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    f = dis.calc(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), None)
    return f.transpose(2, 0, 1)


def torchvision_raft(path: Path):
    import torch
    from torchvision.models.optical_flow import raft_large

    m = raft_large()
    m.load_state_dict(torch.load(path, weights_only=True))
    return m.eval()


def raft_flow(model, a: np.ndarray, b: np.ndarray, iters: int = 20) -> np.ndarray:
    import torch

    with torch.no_grad():
        x = torch.from_numpy(np.stack([a, b])).permute(0, 3, 1, 2).float() / 127.5 - 1
        return model(x[:1], x[1:], num_flow_updates=iters)[-1][0].numpy()


def time_evaluator(gt_root: Path, pred_dir: Path, ids: list[str], method: str, metrics: list[str], cache: Path,
                   opts: dict, fresh: bool) -> tuple[float, float, dict]:
    """One evaluate_method run -> (wall s, CPU s of this process + FaceMesh workers, aggregate). ``fresh`` stops
    the workers first, so that they start inside the timing as in a new process."""
    from metrics import facemesh_pool
    from metrics.evaluator import evaluate_method

    if fresh:
        facemesh_pool.close_all()
    w0 = facemesh_pool.workers_cpu_seconds()
    t0, c0 = time.perf_counter(), time.process_time()
    _, agg = evaluate_method(gt_root, pred_dir, ids, method, "d", metrics, device="cpu", cache_dir=cache,
                             options=opts)
    cpu = time.process_time() - c0 + facemesh_pool.workers_cpu_seconds() - w0
    return time.perf_counter() - t0, cpu, agg


def compare(name: str, ours: dict, ref: dict, tol: dict[str, float]) -> None:
    for col, v in ref.items():
        o = ours[col]
        ok = (np.isnan(v) and np.isnan(o)) or abs(o - v) <= tol.get(col, 1e-6) * max(1.0, abs(v))
        print(f"  {col:<9} ours {o:.6f}  reference {v:.6f}  {'same' if ok else 'DIFFERENT'}")
        assert ok, f"{name}: {col} differs: {o} vs {v}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--skip-networks", action="store_true", help="only the weight-free metrics (a)")
    ap.add_argument("--only-networks", action="store_true", help="only (b)")
    ap.add_argument("--raft-iters", type=int, default=20, help="RAFT refinements, both sides (metric: 20)")
    ap.add_argument("--workers", type=int, default=None, help="evaluator FaceMesh workers (default: cores)")
    ap.add_argument("--methods", type=int, default=8, help="methods per table for the amortised rate")
    args = ap.parse_args()
    import cv2  # noqa: F401 - imported before timing (both sides use it)
    import mediapipe  # noqa: F401
    import skimage.metrics  # noqa: F401
    import torch

    from metrics import facemesh_pool

    print(f"torch threads {torch.get_num_threads()}, {args.videos} videos x {args.frames} frames (128x128 crops)")
    tol = {"PSNR": 1e-9, "SSIM": 1e-9, "LipLMD": 1e-9, "DME[dis]": 1e-9, "LPIPS": 1e-5, "FID": 1e-3,
           "LSE-D": 1e-4, "LSE-C": 1e-4, "DME": 1e-4}
    suites = [] if args.only_networks else [("a", ["psnr", "ssim", "liplmd", "dme_dis"])]
    if not args.skip_networks:
        suites.append(("b", ["psnr", "ssim", "liplmd", "dme_dis", "lpips", "fid", "lse", "dme"]))
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        gt_root, pred_dir, ids = make_dataset(tmp, args.videos, args.frames)
        paths = write_random_weights(tmp / "weights") if not args.skip_networks else {}
        n = args.videos * args.frames
        for tag, metrics in suites:
            t0, c0 = time.perf_counter(), time.process_time()
            ref = reference_loop(gt_root, pred_dir, ids, metrics, paths, args.raft_iters)
            t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
            cache = tmp / f"cache_{tag}"
            opts = {"raft_iters": args.raft_iters, "workers": args.workers}

            t_cold, cpu_cold, cold = time_evaluator(gt_root, pred_dir, ids, "bench", metrics, cache, opts, True)
            t_new, cpu_new, warm_new = time_evaluator(gt_root, pred_dir, ids, "bench2", metrics, cache, opts, True)
            t_warm, cpu_warm, warm = time_evaluator(gt_root, pred_dir, ids, "bench3", metrics, cache, opts, False)
            assert not cold["unavailable"], cold["unavailable"]
            workers = facemesh_pool.default_workers() if args.workers is None else args.workers
            print(f"({tag}) {' '.join(metrics)}; FaceMesh workers {workers}")
            for agg in (cold, warm_new, warm):
                compare(tag, agg, ref, tol)
            m = args.methods
            t_table = t_cold + (m - 1) * t_new
            print(f"  reference loop                   {n / t_ref:8.2f} frames/s ({t_ref:.1f} s)"
                  f"  CPU {1e3 * c_ref / n:.1f} ms/frame")
            for label, t, c in (("evaluator cold", t_cold, cpu_cold), ("evaluator cached, new process", t_new, cpu_new),
                                ("evaluator cached, workers reused", t_warm, cpu_warm)):
                print(f"  {label:<32} {n / t:8.2f} frames/s ({t:.1f} s)  x{t_ref / t:.1f}"
                      f"  CPU {1e3 * c / n:.1f} ms/frame (x{c_ref / c:.1f} less)")
            print(f"  table of {m} methods              {m * n / t_table:8.2f} frames/s  x{m * t_ref / t_table:.1f}"
                  f"  (1 cold + {m - 1} cached, new process each, vs {m} reference loops)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
