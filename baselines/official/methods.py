"""The seven compared methods' public releases: one ``OfficialMethod`` entry each (repository, pinned commit,
checkpoints, environment, inference command, output normalisation). Known breakages: baselines/README.md.

Commits are the repositories' HEAD when this suite was written (checked with the mirror of each repository).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from baselines.official.external import Checkpoint, OfficialMethod, RunContext


def _ffmpeg() -> str:
    """An ffmpeg executable named ``ffmpeg`` (the official scripts call it by name)."""
    from stsa.data.video import ensure_ffmpeg_on_path

    return ensure_ffmpeg_on_path()


# ---------------------------------------------------------------------------------------------------- Wav2Lip


def _wav2lip_cmd(ctx: RunContext) -> list[str]:
    ckpt = ctx.options.get("checkpoint", "checkpoints/wav2lip_gan.pth")
    cmd = [ctx.python, "inference.py", "--checkpoint_path", str(ctx.repo / ckpt), "--face", str(ctx.video),
           "--audio", str(ctx.audio), "--outfile", str(ctx.out_dir / "result.mp4")]
    if str(ctx.options.get("nosmooth", "")).lower() in ("1", "true", "yes"):
        cmd.append("--nosmooth")
    return cmd


WAV2LIP = OfficialMethod(
    name="wav2lip-official", label="Wav2Lip",
    repo_url="https://github.com/Rudrabha/Wav2Lip", commit="5c90fa9b4a2c2a37d0b4ebf7633ac41534eb9941",
    checkpoints=(
        Checkpoint("checkpoints/wav2lip_gan.pth", "436 MB",
                   "README 'Getting the weights' (Wav2Lip + GAN; option checkpoint=checkpoints/wav2lip.pth for "
                   "the sync-only model)"),
        Checkpoint("face_detection/detection/sfd/s3fd.pth", "86 MB",
                   "https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth"),
    ),
    environment="Python 3.6-3.8, torch>=1.1, librosa==0.7.0 (or the fixes in baselines/README.md), opencv",
    command=_wav2lip_cmd, output_kind="full", output_name="result.mp4",
    notes="S3FD detection on full frames; the mouth box is padded by --pads 0 10 0 0; the output length follows "
          "the audio (mel chunks) and is cut to the video by the normaliser.",
)

# ---------------------------------------------------------------------------------------------------- PC-AVS


def _pcavs_prepare(ctx: RunContext) -> None:
    """PC-AVS reads frame folders of 224 aligned faces: we give it our crops (upscaled) as identity, pose and
    mouth source, and the driving audio; the csv line format is that of misc/demo.csv."""
    import cv2

    from baselines.trivial import reference_index
    from stsa.data.clip import ClipData

    clip = ClipData.load(ctx.clip_dir)
    crops, n = clip.crops, clip.n_frames
    frames_dir, id_dir = ctx.work / "frames", ctx.work / "id"
    for d in (frames_dir, id_dir):
        d.mkdir(exist_ok=True)
    for i, c in enumerate(crops):
        cv2.imwrite(str(frames_dir / f"{i:06d}.jpg"), cv2.resize(c, (224, 224))[..., ::-1])
    ref = reference_index(clip.openness)
    cv2.imwrite(str(id_dir / "000000.jpg"), cv2.resize(crops[ref], (224, 224))[..., ::-1])
    line = f"{id_dir} 1 {frames_dir} {n} {ctx.audio} {frames_dir} {n} dummy\n"
    (ctx.work / "meta.csv").write_text(line)


def _pcavs_cmd(ctx: RunContext) -> list[str]:
    return [ctx.python, "-u", "inference.py", "--name", "demo", "--meta_path_vox", str(ctx.work / "meta.csv"),
            "--dataset_mode", "voxtest", "--netG", "modulate", "--netA", "resseaudio", "--netA_sync", "ressesync",
            "--netD", "multiscale", "--netV", "resnext", "--netE", "fan", "--model", "av", "--gpu_ids",
            str(ctx.options.get("gpu_ids", "-1")), "--clip_len", "1", "--batchSize", "16", "--style_dim", "2560",
            "--nThreads", "0", "--input_id_feature", "--generate_interval", "1", "--style_feature_loss",
            "--use_audio", "1", "--noise_pose", "--driving_pose", "--gen_video", "--generate_from_audio_only",
            "--results_dir", str(ctx.out_dir)]


PC_AVS = OfficialMethod(
    name="pc-avs", label="PC-AVS",
    repo_url="https://github.com/Hangz-nju-cuhk/Talking-Face_PC-AVS",
    commit="201d2b946caa93a2ce7c798dd080be65959d2592",
    checkpoints=(Checkpoint("checkpoints/demo/latest_net_G.pth", "demo.zip, 5 .pth files",
                            "README 'Quick Start' Google Drive link (unzip demo.zip to checkpoints/demo)"),),
    environment="Python 3.6, torch 1.3-1.7, face-alignment (only for their own cropping, not used here)",
    command=_pcavs_cmd, prepare=_pcavs_prepare, output_kind="crop", output_glob="**/G_*.mp4",
    notes="Fed with our 128 crops upscaled to 224 instead of their FFHQ-style align_68 crops, so the output is "
          "pasted back with our boxes; the pose source is the clip itself (dubbing, not free-view generation).",
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


def _talklip_cmd(ctx: RunContext) -> list[str]:
    return [ctx.python, "inf_demo.py", "--video_path", str(ctx.video), "--wav_path", str(ctx.audio),
            "--ckpt_path", ctx.ckpt(ctx.options.get("checkpoint", "checkpoints/global.pth")),
            "--avhubert_root", str(ctx.options["avhubert_root"]),
            "--save_path", str(ctx.out_dir / "result"), "--ffmpeg", _ffmpeg(),
            "--device", "0"]


TALKLIP = OfficialMethod(
    name="talklip", label="TalkLip",
    repo_url="https://github.com/Sxjdwang/TalkLip", commit="7ed53ee2f0ffb3636de49e0f24719eef1c757252",
    checkpoints=(
        Checkpoint("checkpoints/global.pth", "~0.5 GB", "README 'Checkpoints' (TalkLip global contrastive)"),
        Checkpoint("face_detection/detection/sfd/s3fd.pth", "86 MB",
                   "https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth"),
        Checkpoint("task_state.pt", "in the repository", "git checkout of the repository"),
    ),
    environment="Python 3.8, torch 1.12, fairseq + av_hubert (facebookresearch/av_hubert) with the two files "
                "replaced from avhubert_modification/ (README)",
    required_options=(("avhubert_root", "checkout of facebookresearch/av_hubert with TalkLip's modifications"),),
    command=_talklip_cmd, output_kind="full", output_name="result.mp4",
    notes="inf_demo.py loads task_state.pt from a hard-coded /home/wjd path and writes a width x width video: see "
          "README fixes; option avhubert_root=/path/to/av_hubert.",
)

# ---------------------------------------------------------------------------------------------------- IP-LAP


def _iplap_cmd(ctx: RunContext) -> list[str]:
    return [ctx.python, "inference_single.py", "--input", str(ctx.video), "--audio", str(ctx.audio),
            "--output_dir", str(ctx.out_dir),
            "--landmark_gen_checkpoint_path", ctx.ckpt("test/checkpoints/landmarkgenerator_checkpoint.pth"),
            "--renderer_checkpoint_path", ctx.ckpt("test/checkpoints/renderer_checkpoint.pth")]


IP_LAP = OfficialMethod(
    name="ip-lap", label="IP-LAP",
    repo_url="https://github.com/Weizhi-Zhong/IP_LAP", commit="9b9dc03f0e90b10b92c904b202443c160afe7c45",
    checkpoints=(
        Checkpoint("test/checkpoints/landmarkgenerator_checkpoint.pth", "~150 MB", "README 'Test' Google Drive link"),
        Checkpoint("test/checkpoints/renderer_checkpoint.pth", "~400 MB", "README 'Test' Google Drive link"),
    ),
    environment="Python 3.7, torch 1.10, mediapipe 0.8.11, librosa 0.9.2, opencv 4.6 (requirements.txt)",
    command=_iplap_cmd, output_kind="full",
    notes="Writes <name>result_N_25_Nl_15.mp4 into --output_dir and a temp dir named after the output dir in cwd.",
)

# ---------------------------------------------------------------------------------------------------- DINet


def _dinet_prepare(ctx: RunContext) -> None:
    src = Path(ctx.options.get("landmark_dir", "")) / f"{ctx.clip_id}.csv"
    if not src.is_file():
        raise FileNotFoundError(f"{src}: OpenFace landmark csv not found (run OpenFace FeatureExtraction on the "
                                f"clip's video.mp4 and put <clip_id>.csv in landmark_dir)")
    shutil.copy2(src, ctx.work / "input.csv")


def _dinet_cmd(ctx: RunContext) -> list[str]:
    return [ctx.python, "inference.py", "--mouth_region_size=256", f"--source_video_path={ctx.video}",
            f"--source_openface_landmark_path={ctx.work / 'input.csv'}", f"--driving_audio_path={ctx.audio}",
            f"--pretrained_clip_DINet_path={ctx.ckpt('asserts/clip_training_DINet_256mouth.pth')}",
            f"--deepspeech_model_path={ctx.ckpt('asserts/output_graph.pb')}", f"--res_video_dir={ctx.out_dir}"]


DINET = OfficialMethod(
    name="dinet", label="DINet",
    repo_url="https://github.com/MRzzm/DINet", commit="3b57fb0a2482213327890fbb76baeafdaa412597",
    checkpoints=(
        Checkpoint("asserts/clip_training_DINet_256mouth.pth", "asserts.zip", "README Google Drive 'asserts.zip'"),
        Checkpoint("asserts/output_graph.pb", "DeepSpeech 0.1 graph, in asserts.zip",
                   "README Google Drive 'asserts.zip'"),
    ),
    environment="Python 3.6, torch 1.7, tensorflow 1.15 (DeepSpeech features), OpenFace 2 for landmarks",
    required_options=(("landmark_dir", "folder of OpenFace 68-point csvs named <clip_id>.csv"),),
    command=_dinet_cmd, prepare=_dinet_prepare, output_kind="full", output_glob="**/*_facial_dubbing_add_audio.mp4",
    notes="Needs OpenFace 68-point landmark csvs per clip (option landmark_dir=DIR with <clip_id>.csv); trained on "
          "HDTF only.",
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


MUSETALK = OfficialMethod(
    name="musetalk", label="MuseTalk",
    repo_url="https://github.com/TMElyralab/MuseTalk", commit="0a89dec45a0192b824e3cf4daf96c239440c5ed8",
    checkpoints=(
        Checkpoint("models/musetalkV15/unet.pth", "3.4 GB", "https://huggingface.co/TMElyralab/MuseTalk"),
        Checkpoint("models/musetalkV15/musetalk.json", "1 KB", "https://huggingface.co/TMElyralab/MuseTalk"),
        Checkpoint("models/sd-vae/diffusion_pytorch_model.bin", "335 MB",
                   "https://huggingface.co/stabilityai/sd-vae-ft-mse"),
        Checkpoint("models/whisper/pytorch_model.bin", "151 MB", "https://huggingface.co/openai/whisper-tiny"),
        Checkpoint("models/dwpose/dw-ll_ucoco_384.pth", "406 MB", "https://huggingface.co/yzd-v/DWPose"),
        Checkpoint("models/face-parse-bisent/79999_iter.pth", "53 MB", "README face-parse-bisent Google Drive"),
        Checkpoint("models/face-parse-bisent/resnet18-5c106cde.pth", "47 MB",
                   "https://download.pytorch.org/models/resnet18-5c106cde.pth"),
    ),
    environment="Python 3.10, torch 2.0.1, diffusers 0.30, mmcv 2.0.1 / mmdet 3.1 / mmpose 1.1 (DWPose)",
    command=_musetalk_cmd, prepare=_musetalk_prepare, output_kind="full", output_glob="**/result.mp4",
    notes="Version 1.5 UNet; outputs under <result_dir>/v15/. Uses the GT frames cycled forward-backward when the "
          "audio is longer than the video.",
)

OFFICIAL_METHODS: dict[str, OfficialMethod] = {m.name: m for m in
                                               (WAV2LIP, PC_AVS, DIFFTALK, TALKLIP, IP_LAP, DINET, MUSETALK)}
