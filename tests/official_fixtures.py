"""Fixture stand-ins for the official inference scripts (never a table row).

Each ``FIXTURE_*`` script takes the official script's arguments and reproduces the official behaviour the adapters
must handle (output place, geometry, timing, encoding chain, exit code on error; file:line of the pinned commits in
the docstrings) with an identity "model": the generated face is the input face, so a correctly aligned output
reproduces the ground truth and a misaligned one does not. ``fixture_repo`` writes one into a fake checkout with
dummy checkpoint files.
"""

from __future__ import annotations

from pathlib import Path

FIXTURE_WAV2LIP = '''
"""Fixture for Rudrabha/Wav2Lip inference.py: its arguments, one output frame per mel chunk (inference.py:231-244,
hop 200 at 16 kHz with the tail chunk), DIVX temp/result.avi in the cwd then ffmpeg's default encoder (:256, :276)."""
import argparse, subprocess
import cv2, soundfile as sf
p = argparse.ArgumentParser()
for name in ("--checkpoint_path", "--face", "--audio"):
    p.add_argument(name, required=True)
p.add_argument("--outfile", default="results/result_voice.mp4")
p.add_argument("--pads", nargs="+", type=int, default=[0, 10, 0, 0])
p.add_argument("--resize_factor", default=1, type=int)
p.add_argument("--box", nargs="+", type=int, default=[-1, -1, -1, -1])
p.add_argument("--nosmooth", action="store_true")
args = p.parse_args()
print("args", vars(args))
open(args.checkpoint_path, "rb").read()
cap, frames = cv2.VideoCapture(args.face), []
while True:
    ok, f = cap.read()
    if not ok:
        break
    if args.resize_factor > 1:
        f = cv2.resize(f, (f.shape[1] // args.resize_factor, f.shape[0] // args.resize_factor))
    frames.append(f)
n_mel = 1 + len(sf.read(args.audio)[0]) // 200  # librosa.stft(center=True), hop_size 200
chunks, i = 0, 0
while True:
    chunks += 1
    if int(i * 80.0 / 25) + 16 > n_mel:
        break
    i += 1
h, w = frames[0].shape[:2]
out = cv2.VideoWriter("temp/result.avi", cv2.VideoWriter_fourcc(*"DIVX"), 25, (w, h))
for k in range(chunks):
    out.write(frames[k % len(frames)])
out.release()
subprocess.call(["ffmpeg", "-y", "-loglevel", "error", "-i", args.audio, "-i", "temp/result.avi", "-strict", "-2",
                 "-q:v", "1", args.outfile])
'''

FIXTURE_PCAVS = '''
"""Fixture for PC-AVS inference.py: parses the demo_vox.sh flags and ignores --results_dir; writes into
results/id_<id>_pose_<pose>_audio_<audio stem>/ relative to the cwd (data/voxtest_dataset.py:89); frames for target
frames 2 .. n-3 only (:107); in load_img's geometry, crop [0:192, 16:208] resized to 224 (:35-39) - the "generator"
returns its pose input; like inference.py:103-113 it prints the traceback of any exception and exits 0."""
import argparse, os, traceback
import cv2, soundfile as sf
p = argparse.ArgumentParser()
p.add_argument("--meta_path_vox")
p.add_argument("--results_dir", default="./results/")
opt, _ = p.parse_known_args()

def load_img(path):
    img = cv2.imread(path)
    if img is None:
        raise Exception("None Image")
    return cv2.resize(img[:224 - 32, 16:224 - 16], (224, 224))

def lws_num_frames(length, fsize=1280, fshift=160):  # config/AudioConfig.py
    return (length + 2 * (fsize - fshift) - fsize) // fshift + (1 if length % fshift == 0 else 2)

def calc_loop_idx(idx, loop_num):  # util/util.py
    flag = -1 * ((idx // loop_num % 2) * 2 - 1)
    return (-flag * (flag - 1) // 2 + flag * (idx % loop_num) + loop_num) % loop_num

def run(line):
    id_path, _, pose_path, pose_n, audio_path, _, _, _ = line.split()
    if os.environ.get("FIXTURE_PCAVS_FAIL"):
        raise RuntimeError("fixture failure on purpose")
    out = os.path.join("results", "id_" + id_path.split("/")[-1] + "_pose_" + pose_path.split("/")[-1] + "_audio_"
                       + os.path.basename(audio_path)[:-4], "G_Pose_Driven_")
    os.makedirs(out, exist_ok=True)
    n = lws_num_frames(len(sf.read(audio_path)[0])) // 4
    for idx, t in enumerate(range(2, n - 2)):
        frame = load_img(os.path.join(pose_path, "{:06}.jpg".format(calc_loop_idx(t, int(pose_n)))))
        cv2.imwrite(os.path.join(out, "G_Pose_Driven_" + str(idx) + ".jpg"), frame)

for line in open(opt.meta_path_vox).read().splitlines():
    try:
        assert len(line.split()) == 8, line
        run(line)
    except Exception as ex:
        traceback.print_exc()
        print(line + "\\n")
        print(str(ex))
'''

FIXTURE_IPLAP = '''
"""Fixture for IP-LAP inference_single.py: writes concatenate([sketch, result], axis=1) (2W x H, :511), frames 0-1 as
copies of frame 2 (:513-515), one frame per mel chunk (:237-245), DIVX tempfile_of_<output dir>/result.avi in the
cwd (:39-41, :420) then ffmpeg -q:v 1 (:517); the renderer returns the input frame."""
import argparse, os, subprocess
import cv2, numpy as np, soundfile as sf
p = argparse.ArgumentParser()
for name in ("--input", "--audio", "--output_dir", "--landmark_gen_checkpoint_path", "--renderer_checkpoint_path"):
    p.add_argument(name)
args = p.parse_args()
temp_dir = "tempfile_of_{}".format(args.output_dir.split("/")[-1])
os.makedirs(args.output_dir, exist_ok=True)
os.makedirs(temp_dir, exist_ok=True)
outfile = os.path.join(args.output_dir, "{}_N_{}_Nl_{}.mp4".format(args.input.split("/")[-1][:-4] + "result", 25, 15))
cap, frames = cv2.VideoCapture(args.input), []
while True:
    ok, f = cap.read()
    if not ok:
        break
    frames.append(f)
n_mel = 1 + len(sf.read(args.audio)[0]) // 200
n_chunks = 0
while int(n_chunks * 80.0 / 25) + 16 <= n_mel:
    n_chunks += 1
seq = list(range(len(frames)))
seq = (seq + seq[::-1]) * (n_chunks // len(frames) + 1)
h, w = frames[0].shape[:2]
out = cv2.VideoWriter("{}/result.avi".format(temp_dir), cv2.VideoWriter_fourcc(*"DIVX"), 25, (w * 2, h))
for b in range(n_chunks - 2):
    sketch = np.zeros_like(frames[0])
    cv2.line(sketch, (0, 0), (w - 1, h - 1), (255, 255, 255), 3)
    full = np.concatenate([sketch, frames[seq[b + 2]]], axis=1)
    out.write(full)
    if b == 0:
        out.write(full)
        out.write(full)
out.release()
subprocess.call(["ffmpeg", "-y", "-loglevel", "error", "-i", args.audio, "-i", "{}/result.avi".format(temp_dir),
                 "-strict", "-2", "-q:v", "1", outfile])
'''

FIXTURE_DINET = '''
"""Fixture for DINet inference.py: reads the landmark csv like utils/data_processing.py:6-24 (columns 5..140 as
x_0..y_67), draws its 5 reference frames with an unseeded random.sample (:84) and prints them, writes XVID
<res_video_dir>/<name>_facial_dubbing.mp4 and muxes the audio with -c:v copy (:117-166); identity generator."""
import argparse, csv, os, random, subprocess
import cv2, soundfile as sf
p = argparse.ArgumentParser()
for name in ("--mouth_region_size", "--source_video_path", "--source_openface_landmark_path", "--driving_audio_path",
             "--pretrained_clip_DINet_path", "--deepspeech_model_path", "--res_video_dir"):
    p.add_argument(name)
opt = p.parse_args()
rows = list(csv.reader(open(opt.source_openface_landmark_path)))
landmarks = [([float(x) for x in r[5:73]], [float(y) for y in r[73:141]]) for r in rows[1:]]
cap, frames = cv2.VideoCapture(opt.source_video_path), []
while True:
    ok, f = cap.read()
    if not ok:
        break
    frames.append(f)
assert len(frames) == len(landmarks), "video frames are misaligned with detected landmarks"
wav, sr = sf.read(opt.driving_audio_path)
n_res = round(len(wav) / sr * 25)  # DeepSpeech features at 25 per second
cycle = frames + frames[::-1]
print("ref_index_list", random.sample(range(5, n_res + 4 - 2), 5), "crop scale", random.random() / 10 + 1.05)
res = os.path.join(opt.res_video_dir, os.path.basename(opt.source_video_path)[:-4] + "_facial_dubbing.mp4")
h, w = frames[0].shape[:2]
writer = cv2.VideoWriter(res, cv2.VideoWriter_fourcc(*"XVID"), 25, (w, h))
for k in range(n_res):
    writer.write(cycle[k % len(cycle)])
writer.release()
subprocess.call(["ffmpeg", "-loglevel", "error", "-i", res, "-i", opt.driving_audio_path, "-c:v", "copy", "-c:a",
                 "aac", "-strict", "experimental", "-map", "0:v:0", "-map", "1:a:0",
                 res.replace(".mp4", "_add_audio.mp4")])
'''

FIXTURE_MUSETALK = '''
"""Fixture for MuseTalk scripts/inference.py: like :248-249 it prints any exception and exits 0."""
import argparse
p = argparse.ArgumentParser()
p.add_argument("--result_dir")
args, _ = p.parse_known_args()
try:
    raise FileNotFoundError("models/sd-vae/config.json: no such file (fixture failure on purpose)")
except Exception as e:
    print("Error occurred during processing:", e)
'''

SCRIPTS = {"wav2lip-official": {"inference.py": FIXTURE_WAV2LIP, "temp/README.md": ""},
           "pc-avs": {"inference.py": FIXTURE_PCAVS},
           "ip-lap": {"inference_single.py": FIXTURE_IPLAP},
           "dinet": {"inference.py": FIXTURE_DINET},
           "musetalk": {"scripts/__init__.py": "", "scripts/inference.py": FIXTURE_MUSETALK}}


def fixture_repo(root: Path, method: str) -> Path:
    """A fake checkout of ``method`` (official-methods name): the fixture script and a dummy file for every
    checkpoint the adapter checks; never a table row."""
    from baselines.official.methods import OFFICIAL_METHODS

    root.mkdir(parents=True, exist_ok=True)
    for rel, text in SCRIPTS[method].items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for ck in OFFICIAL_METHODS[method].checkpoints:
        (root / ck.path).parent.mkdir(parents=True, exist_ok=True)
        (root / ck.path).write_bytes(b"fixture weights " + ck.path.encode())
    return root


OPENFACE_DEFAULT_HEAD = (["frame", "face_id", "timestamp", "confidence", "success"]
                         + [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"] + ["gaze_angle_x", "gaze_angle_y"]
                         + [f"eye_lmk_{a}_{i}" for a in "xy" for i in range(56)]
                         + [f"pose_{a}" for a in ("Tx", "Ty", "Tz", "Rx", "Ry", "Rz")])


def fixture_openface_csv(path: Path, landmarks_px, landmarks_only: bool = True) -> Path:
    """An OpenFace 2 FeatureExtraction csv for (T, 68, 2) pixel landmarks: ``-2Dfp`` layout (frame .. success,
    x_0..x_67, y_0..y_67) or, with ``landmarks_only=False``, the default layout's order (gaze, eye landmarks and
    pose columns before x_0); ", " separators as OpenFace writes them."""
    import numpy as np

    lm = np.asarray(landmarks_px, dtype=np.float64)
    head = ["frame", "face_id", "timestamp", "confidence", "success"] if landmarks_only else OPENFACE_DEFAULT_HEAD
    extra = len(head) - 5
    head = head + [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)]
    rows = [", ".join(head)]
    for t, pts in enumerate(lm):
        vals = [str(t + 1), "0", f"{t / 25:.3f}", "0.98", "1"] + ["0.1"] * extra
        vals += [f"{v:.1f}" for v in pts[:, 0]] + [f"{v:.1f}" for v in pts[:, 1]]
        rows.append(", ".join(vals))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")
    return path
