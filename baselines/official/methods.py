"""The seven compared methods' public releases: one ``OfficialMethod`` entry each (repository, pinned commit,
checkpoints, device needs, run-time downloads, preparation commands, inference command, where its output lands and
in which geometry and timing). Official ``file:line`` references are to the pinned commits; known breakages:
baselines/README.md.

Commits are the repositories' HEAD when this suite was written (checked with the mirror of each repository).
"""

from __future__ import annotations

import re
from pathlib import Path

from baselines.official.external import TRACEBACK, Checkpoint, OfficialMethod, RunContext, RuntimeDownload, seeded

S3FD_URL = "https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth"


def _ffmpeg() -> str:
    """An ffmpeg executable named ``ffmpeg`` (the official scripts call it by name)."""
    from stsa.data.video import ensure_ffmpeg_on_path

    return ensure_ffmpeg_on_path()


def _ints(ctx: RunContext, key: str, n: int) -> list[str]:
    """Option ``key`` as ``n`` integers ("0 10 0 0" or "0,10,0,0")."""
    parts = [p for p in re.split(r"[\s,]+", str(ctx.options[key]).strip()) if p]
    if len(parts) != n or not all(re.fullmatch(r"-?\d+", p) for p in parts):
        example = " ".join(["0"] * n)
        raise ValueError(f"option {key}={ctx.options[key]!r}: expected {n} integers, e.g. --option {key}='{example}'")
    return parts


def _on(ctx: RunContext, key: str) -> bool:
    return str(ctx.options.get(key, "")).lower() in ("1", "true", "yes")


# ---------------------------------------------------------------------------------------------------- Wav2Lip


def _wav2lip_cmd(ctx: RunContext) -> list[str]:
    ckpt = ctx.options.get("checkpoint", "checkpoints/wav2lip_gan.pth")
    cmd = [ctx.python, "inference.py", "--checkpoint_path", str(ctx.repo / ckpt), "--face", str(ctx.video),
           "--audio", str(ctx.audio), "--outfile", str(ctx.out_dir / "result.mp4")]
    for key, n in (("pads", 4), ("box", 4)):
        if ctx.options.get(key):
            cmd += [f"--{key}", *_ints(ctx, key, n)]
    if ctx.options.get("resize_factor"):
        cmd += ["--resize_factor", *_ints(ctx, "resize_factor", 1)]
    if _on(ctx, "nosmooth"):
        cmd.append("--nosmooth")
    return cmd


WAV2LIP = OfficialMethod(
    name="wav2lip-official", label="Wav2Lip",
    repo_url="https://github.com/Rudrabha/Wav2Lip", commit="5c90fa9b4a2c2a37d0b4ebf7633ac41534eb9941",
    checkpoints=(
        Checkpoint("checkpoints/wav2lip_gan.pth", "436 MB",
                   "README 'Getting the weights' (Wav2Lip + GAN; option checkpoint=checkpoints/wav2lip.pth for "
                   "the sync-only model)", option="checkpoint"),
        Checkpoint("face_detection/detection/sfd/s3fd.pth", "86 MB", S3FD_URL, unless_option="box",
                   fetched_by="face_detection/detection/sfd/sfd_detector.py:21-22; not used with option box"),
    ),
    environment="Python 3.6-3.7 with requirements.txt (torch 1.1, librosa 0.7.0, numba 0.48), or newer with the "
                "audio.py fix in baselines/README.md",
    device="inference.py:157 picks CUDA when available, else the CPU",
    setup=(
        "git clone https://github.com/Rudrabha/Wav2Lip $REPO && git -C $REPO checkout "
        "5c90fa9b4a2c2a37d0b4ebf7633ac41534eb9941",
        "python3.7 -m venv ENV && ENV/bin/pip install -r $REPO/requirements.txt",
        "save wav2lip_gan.pth (README 'Getting the weights') as $REPO/checkpoints/wav2lip_gan.pth",
        f"curl -L -o $REPO/face_detection/detection/sfd/s3fd.pth {S3FD_URL}   # not needed with --option box=",
    ),
    command=_wav2lip_cmd, output_kind="full", output_name="result.mp4",
    repo_outputs=lambda ctx: [ctx.repo / "temp" / "result.avi"],
    notes="S3FD detection on full frames, boxes padded by --pads (default 0 10 0 0; options pads, box "
          "(top bottom left right), resize_factor, nosmooth). One output frame per mel chunk (inference.py:231-244): "
          "for a 2 s clip 47 of 50 frames; the missing tail is padded and reported (frames_padded_tail).",
)

# ---------------------------------------------------------------------------------------------------- PC-AVS

PCAVS_WINDOW = (16 / 224, 0.0, 208 / 224, 192 / 224)  # load_img's img[0:192, 16:208] of the 224 input, x0 y0 x1 y1


def _pcavs_names(ctx: RunContext) -> tuple[Path, Path, Path]:
    """Identity dir, pose-frame dir, audio of this run (their names make the results folder unique)."""
    return ctx.work / f"{ctx.token}id", ctx.work / f"{ctx.token}pose", ctx.work / f"{ctx.token}.wav"


def _pcavs_results(ctx: RunContext) -> Path:
    """The folder PC-AVS writes to, relative to the cwd = repo, whatever --results_dir says
    (data/voxtest_dataset.py:81-91: results/id_<id dir>_pose_<pose dir>_audio_<audio stem>)."""
    id_dir, pose_dir, audio = _pcavs_names(ctx)
    return ctx.repo / "results" / f"id_{id_dir.name}_pose_{pose_dir.name}_audio_{audio.stem}"


def _pcavs_prepare(ctx: RunContext) -> None:
    """PC-AVS reads frame folders of 224 aligned faces (``{:06}.jpg``): our crops upscaled to 224 as identity and
    pose source, the driving audio, no mouth-source frames (not used with --generate_from_audio_only); the csv
    line format is that of misc/demo.csv."""
    import cv2

    from baselines.official.external import _link_or_copy
    from baselines.trivial import reference_index
    from stsa.data.clip import ClipData

    clip = ClipData.load(ctx.clip_dir)
    crops, n = clip.crops, clip.n_frames
    id_dir, pose_dir, audio = _pcavs_names(ctx)
    for d in (id_dir, pose_dir):
        d.mkdir(exist_ok=True)
    jpg = [cv2.IMWRITE_JPEG_QUALITY, 100]
    for i, c in enumerate(crops):
        cv2.imwrite(str(pose_dir / f"{i:06d}.jpg"), cv2.resize(c, (224, 224))[..., ::-1], jpg)
    ref = reference_index(clip.openness)
    cv2.imwrite(str(id_dir / "000000.jpg"), cv2.resize(crops[ref], (224, 224))[..., ::-1], jpg)
    _link_or_copy(ctx.audio, audio)
    line = f"{id_dir} 1 {pose_dir} {n} {audio} {ctx.work / 'no_mouth_frames'} {n} dummy\n"
    (ctx.work / "meta.csv").write_text(line)


def _pcavs_cmd(ctx: RunContext) -> list[str]:
    return [ctx.python, "-u", "inference.py", "--name", "demo", "--meta_path_vox", str(ctx.work / "meta.csv"),
            "--dataset_mode", "voxtest", "--netG", "modulate", "--netA", "resseaudio", "--netA_sync", "ressesync",
            "--netD", "multiscale", "--netV", "resnext", "--netE", "fan", "--model", "av", "--gpu_ids",
            str(ctx.options.get("gpu_ids", "0")), "--clip_len", "1", "--batchSize", "16", "--style_dim", "2560",
            "--nThreads", "0", "--input_id_feature", "--generate_interval", "1", "--style_feature_loss",
            "--use_audio", "1", "--noise_pose", "--driving_pose", "--gen_video", "--generate_from_audio_only"]


PC_AVS = OfficialMethod(
    name="pc-avs", label="PC-AVS",
    repo_url="https://github.com/Hangz-nju-cuhk/Talking-Face_PC-AVS",
    commit="201d2b946caa93a2ce7c798dd080be65959d2592",
    checkpoints=tuple(Checkpoint(f"checkpoints/demo/latest_net_{net}.pth", "in demo.zip",
                                 "README 'Quick Start' Google Drive link (unzip demo.zip to checkpoints/demo)")
                      for net in ("G", "V", "E", "A_sync")),
    environment="Python 3.6, torch 1.3-1.7, requirements.txt plus lws (config/AudioConfig.py imports it)",
    cuda_only=True,
    device="inference.py:97 create_model(opt).cuda(), models/av_model.py:56-59,91 .cuda() on every input; "
           "--gpu_ids -1 only skips torch.cuda.set_device (options/base_options.py:244-251)",
    setup=(
        "git clone https://github.com/Hangz-nju-cuhk/Talking-Face_PC-AVS $REPO && git -C $REPO checkout "
        "201d2b946caa93a2ce7c798dd080be65959d2592",
        "conda create -n pcavs python=3.6 && conda run -n pcavs pip install torch==1.3.0 torchvision==0.4.1 lws "
        "&& conda run -n pcavs pip install -r $REPO/requirements.txt",
        "unzip demo.zip (README 'Quick Start', Google Drive 1Zehr3JLIpzdg2S5zZrhIbpYPKF-4gKU_) so that "
        "$REPO/checkpoints/demo/latest_net_G.pth exists",
    ),
    command=_pcavs_cmd, prepare=_pcavs_prepare, output_kind="crop",
    output_path=lambda ctx: _pcavs_results(ctx) / "G_Pose_Driven_",
    repo_outputs=lambda ctx: [_pcavs_results(ctx)],
    frame_offset=2, face_window=PCAVS_WINDOW,
    notes="Fed with our 128 crops upscaled to 224 instead of their FFHQ-style align_68 crops. Its frames cover "
          "load_img's crop [0:192, 16:208] of that input resized to 224 (data/voxtest_dataset.py:35-39), so they "
          "are pasted into that sub-window of our boxes; its first frame is target frame 2 "
          "(data/voxtest_dataset.py:107), so 2 head frames (and the tail it leaves) are padded and reported. The "
          "frames are read from the G_Pose_Driven_ jpgs (one lossy step fewer than its mp4). It catches every "
          "exception and exits 0 (inference.py:103-113): a run without frames is a failure with its traceback.",
)

# ---------------------------------------------------------------------------------------------------- DiffTalk

DIFFTALK = OfficialMethod(
    name="difftalk", label="DiffTalk",
    repo_url="https://github.com/sstzal/DiffTalk", commit="b49a607aa39bb41da215870c2b3dd48e9af9f30d",
    checkpoints=(), environment="Python 3.7, torch 1.x, the latent-diffusion code base",
    command=None,
    unavailable_reason="the main DiffTalk checkpoint was never released (only the code and a VQ autoencoder "
                       "config), so it cannot be run; only outputs obtained from the authors can be evaluated.",
)

# ---------------------------------------------------------------------------------------------------- TalkLip


def _talklip_prepare(ctx: RunContext) -> None:
    """The driving audio cut to the video's length (640 samples per frame): with even one audio feature more than
    video frames, inf_demo.py:130-141 repeats every frame (repeat_interleave) and the output plays in slow motion."""
    import soundfile as sf

    from stsa.data.clip import ClipData

    wav, sr = sf.read(ctx.audio, dtype="int16")
    n = ClipData.load(ctx.clip_dir).n_frames
    sf.write(ctx.work / "talklip.wav", wav[: n * sr // 25], sr, subtype="PCM_16")


def _talklip_cmd(ctx: RunContext) -> list[str]:
    return [ctx.python, "inf_demo.py", "--video_path", str(ctx.video), "--wav_path", str(ctx.work / "talklip.wav"),
            "--ckpt_path", ctx.ckpt(ctx.options.get("checkpoint", "checkpoints/talklip_gc.pth")),
            "--avhubert_root", str(ctx.options["avhubert_root"]),
            "--save_path", str(ctx.out_dir / "result"), "--ffmpeg", _ffmpeg(),
            "--device", str(ctx.options.get("gpu_id", "0"))]


TALKLIP = OfficialMethod(
    name="talklip", label="TalkLip",
    repo_url="https://github.com/Sxjdwang/TalkLip", commit="7ed53ee2f0ffb3636de49e0f24719eef1c757252",
    checkpoints=(
        Checkpoint("checkpoints/talklip_gc.pth", "~0.5 GB",
                   "README 'Checkpoints', row 'TalkLip (g+c)' (global audio encoder + contrastive learning), saved "
                   "under this name; option checkpoint=checkpoints/talklip_g.pth for row 'TalkLip (g)'",
                   option="checkpoint"),
        Checkpoint("face_detection/detection/sfd/s3fd.pth", "86 MB", S3FD_URL + " (README 'Prerequisite' 6)",
                   fetched_by="face_detection/detection/sfd/sfd_detector.py:21-22"),
        Checkpoint("task_state.pt", "in the repository", "git checkout of the repository"),
    ),
    environment="Python 3.8, torch 1.12 (README 'Prerequisite'), fairseq + av_hubert (facebookresearch/av_hubert) "
                "with the two files replaced from avhubert_modification/, numpy < 1.24",
    device="inf_demo.py:273 picks cuda:<--device> when available, else the CPU",
    required_options=(("avhubert_root", "checkout of facebookresearch/av_hubert with TalkLip's modifications"),),
    setup=(
        "git clone https://github.com/Sxjdwang/TalkLip $REPO && git -C $REPO checkout "
        "7ed53ee2f0ffb3636de49e0f24719eef1c757252",
        "conda create -n talklip python=3.8 && conda run -n talklip pip install torch==1.12.0+cu113 "
        "torchvision==0.13.0+cu113 -f https://download.pytorch.org/whl/torch_stable.html",
        "git clone https://github.com/facebookresearch/av_hubert AVHUBERT && git -C AVHUBERT submodule update --init "
        "&& conda run -n talklip pip install -r AVHUBERT/requirements.txt -e AVHUBERT/fairseq "
        "-r $REPO/requirement.txt 'numpy<1.24'",
        "cp $REPO/avhubert_modification/hubert_asr_wav2lip.py AVHUBERT/avhubert/hubert_asr.py && cp "
        "$REPO/avhubert_modification/label_smoothed_cross_entropy_wav2lip.py "
        "AVHUBERT/fairseq/fairseq/criterions/label_smoothed_cross_entropy.py",
        "save README 'Checkpoints' TalkLip (g+c) as $REPO/checkpoints/talklip_gc.pth (and TalkLip (g) as "
        "$REPO/checkpoints/talklip_g.pth)",
        f"curl -L -o $REPO/face_detection/detection/sfd/s3fd.pth {S3FD_URL}",
    ),
    command=_talklip_cmd, prepare=_talklip_prepare, output_kind="full", output_name="result.mp4",
    notes="The README's two demo fixes are already in inf_demo.py at this commit (task_state.pt is read from the "
          "cwd = repo, inf_demo.py:67; the writer uses (width, height), inf_demo.py:238-244). option "
          "avhubert_root=/path/to/av_hubert; checkpoint= selects (g) or (g+c).",
)

# ---------------------------------------------------------------------------------------------------- IP-LAP

IPLAP_OUTPUT = "inputresult_N_25_Nl_15.mp4"  # inference_single.py:120-121 for --input .../input.mp4


def _iplap_cmd(ctx: RunContext) -> list[str]:
    return [ctx.python, "inference_single.py", "--input", str(ctx.video), "--audio", str(ctx.audio),
            "--output_dir", str(ctx.out_dir / ctx.token),
            "--landmark_gen_checkpoint_path", ctx.ckpt("test/checkpoints/landmarkgenerator_checkpoint.pth"),
            "--renderer_checkpoint_path", ctx.ckpt("test/checkpoints/renderer_checkpoint.pth")]


IP_LAP = OfficialMethod(
    name="ip-lap", label="IP-LAP",
    repo_url="https://github.com/Weizhi-Zhong/IP_LAP", commit="9b9dc03f0e90b10b92c904b202443c160afe7c45",
    checkpoints=(
        Checkpoint("test/checkpoints/landmarkgenerator_checkpoint.pth", "~150 MB",
                   "README 'Test' OneDrive/jianguoyun link"),
        Checkpoint("test/checkpoints/renderer_checkpoint.pth", "~400 MB", "README 'Test' OneDrive/jianguoyun link"),
    ),
    environment="Python 3.7.13, torch 1.10.0 (CUDA 11.1), requirements.txt (mediapipe 0.8.11, face-alignment "
                "1.3.5, librosa 0.9.2, opencv 4.6)",
    cuda_only=True,
    device="inference_single.py:34 FaceAlignment(device='cuda'), :412,415,467-468,490,494 .cuda() (the models "
           "follow torch.cuda.is_available(), the inputs do not)",
    runtime_downloads=(
        RuntimeDownload("s3fd-619a316812.pth", S3FD_URL,
                        "face-alignment 1.3.5 (SFDDetector, face_alignment/detection/sfd/sfd_detector.py; "
                        "inference_single.py:34)"),
        RuntimeDownload("2DFAN4-cd938726ad.zip", "https://www.adrianbulat.com/downloads/python-fan/"
                        "2DFAN4-cd938726ad.zip", "face-alignment 1.3.5 (FaceAlignment 2D landmarks, torch 1.10 "
                        "uses the default model URL; inference_single.py:34)"),
    ),
    setup=(
        "git clone https://github.com/Weizhi-Zhong/IP_LAP $REPO && git -C $REPO checkout "
        "9b9dc03f0e90b10b92c904b202443c160afe7c45",
        "conda create -n iplap python=3.7.13 && conda run -n iplap pip install torch==1.10.0+cu111 "
        "torchvision==0.11.0+cu111 -f https://download.pytorch.org/whl/torch_stable.html && conda run -n iplap pip "
        "install -r $REPO/requirements.txt",
        "put landmarkgenerator_checkpoint.pth and renderer_checkpoint.pth (README 'Test') in $REPO/test/checkpoints/",
        "offline machines: put s3fd-619a316812.pth and 2DFAN4-cd938726ad.zip (URLs above) in "
        "${TORCH_HOME:-~/.cache/torch}/hub/checkpoints/",
    ),
    command=_iplap_cmd, output_kind="full",
    output_path=lambda ctx: ctx.out_dir / ctx.token / IPLAP_OUTPUT,
    repo_outputs=lambda ctx: [ctx.repo / f"tempfile_of_{ctx.token}"],
    panel=(1, 2), duplicated_head=2,
    notes="Writes concatenate([sketch, result], axis=1) (2W x H, inference_single.py:511): the right half is kept. "
          "Frames 0-1 are copies of frame 2 (inference_single.py:513-515) and the output has one frame per mel "
          "chunk (:237-245); both are reported in the metadata. A temp dir tempfile_of_<output dir name> is made "
          "in the cwd (:39-41): a per-run name, removed afterwards.",
)

# ---------------------------------------------------------------------------------------------------- DINet

OPENFACE_CMD = "FeatureExtraction -f <clips>/<clip_id>/video.mp4 -2Dfp -out_dir <dir>/<clip_id> && " \
               "mv <dir>/<clip_id>/video.csv <dir>/<clip_id>.csv"


def check_openface_csv(path: Path, n_frames: int) -> None:
    """DINet's reader (utils/data_processing.py:6-24) takes columns 5..72 as x_0..x_67 and 73..140 as y_0..y_67 and
    needs one row per frame numbered from 1: true only for OpenFace's landmarks-only csv (``-2Dfp``). The default
    csv has gaze columns there and gives wrong landmarks silently, so check the header first."""
    from stsa.errors import DatasetError

    lines = path.read_text().splitlines()
    header = [c.strip() for c in lines[0].split(",")] if lines else []
    want = [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)]
    if header[:1] != ["frame"] or header[5:141] != want:
        got = ", ".join(header[5:9]) or "nothing"
        raise DatasetError(path, f"not an OpenFace landmarks-only csv: DINet reads columns 5-140 as x_0..x_67, "
                                 f"y_0..y_67 but they hold {got}, ...",
                           f"run OpenFace with only the 2D landmarks output: {OPENFACE_CMD}")
    rows = [ln for ln in lines[1:] if ln.strip()]
    frames = [int(float(r.split(",")[0])) for r in rows]
    if frames != list(range(1, n_frames + 1)):
        raise DatasetError(path, f"{len(rows)} landmark rows (frames {frames[:1]}..{frames[-1:]}) for a "
                                 f"{n_frames}-frame video; DINet needs one row per frame, numbered from 1",
                           f"run OpenFace on this clip's video.mp4: {OPENFACE_CMD}")


def _dinet_prepare(ctx: RunContext) -> None:
    import shutil

    from stsa.data.clip import ClipData

    src = Path(ctx.options.get("landmark_dir", "")) / f"{ctx.clip_id}.csv"
    if not src.is_file():
        raise FileNotFoundError(f"{src}: OpenFace landmark csv not found ({OPENFACE_CMD})")
    check_openface_csv(src, ClipData.load(ctx.clip_dir).n_frames)
    shutil.copy2(src, ctx.work / "input.csv")


def _dinet_cmd(ctx: RunContext) -> list[str]:
    return seeded(ctx, "inference.py", "--mouth_region_size=256", f"--source_video_path={ctx.video}",
                  f"--source_openface_landmark_path={ctx.work / 'input.csv'}", f"--driving_audio_path={ctx.audio}",
                  f"--pretrained_clip_DINet_path={ctx.ckpt('asserts/clip_training_DINet_256mouth.pth')}",
                  f"--deepspeech_model_path={ctx.ckpt('asserts/output_graph.pb')}", f"--res_video_dir={ctx.out_dir}")


DINET = OfficialMethod(
    name="dinet", label="DINet",
    repo_url="https://github.com/MRzzm/DINet", commit="3b57fb0a2482213327890fbb76baeafdaa412597",
    checkpoints=(
        Checkpoint("asserts/clip_training_DINet_256mouth.pth", "asserts.zip", "README Google Drive 'asserts.zip'"),
        Checkpoint("asserts/output_graph.pb", "DeepSpeech 0.1 graph, in asserts.zip",
                   "README Google Drive 'asserts.zip'"),
    ),
    environment="Python 3.6, requirements.txt (torch 1.7.1+cu101, tensorflow 1.15.2, numpy 1.16.6), OpenFace 2 for "
                "landmarks",
    cuda_only=True,
    device="inference.py:100,104,143-144 .cuda() on the model and every input",
    required_options=(("landmark_dir", "folder of OpenFace landmarks-only csvs <clip_id>.csv (FeatureExtraction "
                                       "-2Dfp)"),),
    setup=(
        "git clone https://github.com/MRzzm/DINet $REPO && git -C $REPO checkout "
        "3b57fb0a2482213327890fbb76baeafdaa412597",
        "conda create -n dinet python=3.6 && conda run -n dinet pip install -r $REPO/requirements.txt -f "
        "https://download.pytorch.org/whl/torch_stable.html",
        "unzip asserts.zip (README Google Drive) in $REPO (-> $REPO/asserts/clip_training_DINet_256mouth.pth, "
        "$REPO/asserts/output_graph.pb)",
        f"per clip, OpenFace 2 landmarks only: {OPENFACE_CMD}   # then --option landmark_dir=<dir>",
    ),
    command=_dinet_cmd, prepare=_dinet_prepare, output_kind="full", seeded=True,
    output_name="input_facial_dubbing_add_audio.mp4",
    notes="Its 5 reference frames come from an unseeded random.sample (inference.py:84) and its crop radius from "
          "random.random() (utils/data_processing.py:33-34): the adapter seeds Python's and numpy's RNGs "
          "(option seed, default 0, recorded in the metadata) through a 3-line runpy wrapper, so runs repeat. "
          "Trained on HDTF only.",
)

# ---------------------------------------------------------------------------------------------------- MuseTalk


def _musetalk_prepare(ctx: RunContext) -> None:
    (ctx.work / "task.yaml").write_text(
        f'task_0:\n  video_path: "{ctx.video}"\n  audio_path: "{ctx.audio}"\n  result_name: "result.mp4"\n')


def _musetalk_cmd(ctx: RunContext) -> list[str]:
    return [ctx.python, "-m", "scripts.inference", "--inference_config", str(ctx.work / "task.yaml"),
            "--result_dir", str(ctx.out_dir), "--unet_model_path", ctx.ckpt("models/musetalkV15/unet.pth"),
            "--unet_config", ctx.ckpt("models/musetalkV15/musetalk.json"), "--version", "v15",
            "--ffmpeg_path", str(Path(_ffmpeg()).parent)]


_HF = "https://huggingface.co/"
MUSETALK = OfficialMethod(
    name="musetalk", label="MuseTalk",
    repo_url="https://github.com/TMElyralab/MuseTalk", commit="0a89dec45a0192b824e3cf4daf96c239440c5ed8",
    checkpoints=(
        Checkpoint("models/musetalkV15/unet.pth", "3.4 GB", _HF + "TMElyralab/MuseTalk (download_weights.sh)"),
        Checkpoint("models/musetalkV15/musetalk.json", "1 KB", _HF + "TMElyralab/MuseTalk (download_weights.sh)"),
        Checkpoint("models/sd-vae/config.json", "1 KB", _HF + "stabilityai/sd-vae-ft-mse (download_weights.sh)"),
        Checkpoint("models/sd-vae/diffusion_pytorch_model.bin", "335 MB",
                   _HF + "stabilityai/sd-vae-ft-mse (download_weights.sh)"),
        Checkpoint("models/whisper/config.json", "2 KB", _HF + "openai/whisper-tiny (download_weights.sh)"),
        Checkpoint("models/whisper/preprocessor_config.json", "185 KB",
                   _HF + "openai/whisper-tiny (download_weights.sh)"),
        Checkpoint("models/whisper/pytorch_model.bin", "151 MB", _HF + "openai/whisper-tiny (download_weights.sh)"),
        Checkpoint("models/dwpose/dw-ll_ucoco_384.pth", "406 MB", _HF + "yzd-v/DWPose (download_weights.sh)"),
        Checkpoint("models/face-parse-bisent/79999_iter.pth", "53 MB",
                   "Google Drive 154JgKpzCPW82qINcVieuPH3fZ2e0P812 (download_weights.sh)"),
        Checkpoint("models/face-parse-bisent/resnet18-5c106cde.pth", "47 MB",
                   "https://download.pytorch.org/models/resnet18-5c106cde.pth (download_weights.sh)"),
        Checkpoint("musetalk/utils/face_detection/detection/sfd/s3fd.pth", "86 MB", S3FD_URL,
                   fetched_by="musetalk/utils/face_detection/detection/sfd/sfd_detector.py:21-22"),
    ),
    environment="Python 3.10, torch 2.0.1, requirements.txt (diffusers 0.30), mmengine, mmcv 2.0.1, mmdet 3.1.0, "
                "mmpose 1.1.0 (README)",
    device="scripts/inference.py:42 and the models pick CUDA when available, else the CPU (very slow)",
    setup=(
        "git clone https://github.com/TMElyralab/MuseTalk $REPO && git -C $REPO checkout "
        "0a89dec45a0192b824e3cf4daf96c239440c5ed8",
        "conda create -n musetalk python=3.10 && conda run -n musetalk pip install torch==2.0.1 torchvision==0.15.2 "
        "torchaudio==2.0.2 --index-url https://download.pytorch.org/whl/cu118 && conda run -n musetalk pip install "
        "-r $REPO/requirements.txt openmim && conda run -n musetalk mim install mmengine 'mmcv==2.0.1' "
        "'mmdet==3.1.0' 'mmpose==1.1.0'",
        "cd $REPO && sh download_weights.sh",
        f"curl -L -o $REPO/musetalk/utils/face_detection/detection/sfd/s3fd.pth {S3FD_URL}",
    ),
    command=_musetalk_cmd, prepare=_musetalk_prepare, output_kind="full",
    output_path=lambda ctx: ctx.out_dir / "v15" / "result.mp4",
    error_markers=(TRACEBACK, "Error occurred"),
    notes="Version 1.5 UNet; outputs under <result_dir>/v15/. It prints exceptions and exits 0 "
          "(scripts/inference.py:248-249; audio_processor.py calls exit() on a bad chunk): a run without "
          "result.mp4 is a failure with the printed error. A frame whose paste fails is skipped "
          "(scripts/inference.py:217-220), which ends ffmpeg's %08d.png sequence early: the missing tail is "
          "padded and reported. Uses the GT frames cycled forward-backward when the audio is longer.",
)

OFFICIAL_METHODS: dict[str, OfficialMethod] = {m.name: m for m in
                                               (WAV2LIP, PC_AVS, DIFFTALK, TALKLIP, IP_LAP, DINET, MUSETALK)}
