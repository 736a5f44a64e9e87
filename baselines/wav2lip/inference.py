"""Native Wav2Lip inference: the released ``inference.py`` (Rudrabha/Wav2Lip 5c90fa9) step by step, with options.

The official pipeline, given per-frame face boxes (S3FD's there, the clip's FaceMesh boxes here):

1. boxes: ``--pads`` (top, bottom, left, right; default 0 10 0 0) added, clipped to the frame, then averaged over
   5 frames (``get_smoothened_boxes``, unless ``--nosmooth``) and truncated to int;
2. mel: one chunk per output frame (:func:`stsa.data.audio.mel_chunks`: columns ``int(i * 80 / fps)`` onwards, the
   last chunk clamped to the final 16 columns); the video is cut to the number of chunks;
3. input: ``cv2.resize(bgr_frame[y1:y2, x1:x2], (96, 96))``, lower half zeroed, the same face as the reference, / 255;
4. output: ``(pred * 255).astype(uint8)`` (truncation), ``cv2.resize`` straight to the box size, pasted over the
   whole box (every pixel of the box replaced, none outside it touched).

Boxes. The release was trained on raw per-frame S3FD boxes (its ``preprocess.py``: no pads, no smoothing); the
pads and the smoothing are inference-time defaults of ``inference.py``. S3FD boxes follow the WIDER FACE style
(roughly forehead to chin, often cutting the chin, hence the extra 10 px at the bottom). Our boxes are the min/max of
the 131 FaceMesh landmarks +-5 px (``stsa/data/preprocess.py``): brows to chin, cheek edge to cheek edge, so they
already hold the chin and start lower than a typical S3FD box. The ``official`` preset applies inference.py's pads
and smoothing to them, as if they had come from its detector; ``pads=0,0,0,0 smooth=1`` uses them as they are
(inference.py with ``--pads 0 0 0 0 --nosmooth``, or ``--box`` for a static box).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np

from baselines.wav2lip.model import IMG_SIZE, masked_input

PASTES = ("box", "feather")  # whole box (official) | stsa.data.crops.paste_faces' feathered mask
RESIZES = ("box", "crop")  # box -> 96 (official) | the clip's 128 crop -> 96 (how our training script makes faces)
QUANTISES = ("truncate", "round")  # uint8 cast of pred * 255 (official) | + 0.5 first
FRAME_RULES = ("mel", "video")  # one frame per mel chunk (official) | one per video frame, windows edge padded


@dataclass(frozen=True)
class InferenceConfig:
    """How a clip becomes frames. ``official()`` = inference.py's defaults; ``trained()`` = the inputs our own
    training script (``baselines/wav2lip/train.py``) fed its models: the 128 crops of the unpadded, unsmoothed boxes.
    Ours where it is better (off in both presets): ``paste="feather"`` (no visible box edge), ``quantise="round"``
    (unbiased: truncation darkens by half a level on average), ``frames="video"`` (a generated frame for every video
    frame instead of repeating the last one)."""

    paste: str = "box"
    resize: str = "box"
    quantise: str = "truncate"
    frames: str = "mel"
    pads: tuple[int, int, int, int] = (0, 10, 0, 0)  # top, bottom, left, right (px)
    smooth: int = 5  # frames the boxes are averaged over (1 = off)

    def __post_init__(self):
        for name, allowed in (("paste", PASTES), ("resize", RESIZES), ("quantise", QUANTISES),
                              ("frames", FRAME_RULES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"wav2lip {name}={getattr(self, name)!r}: one of {', '.join(allowed)}")
        if len(self.pads) != 4 or self.smooth < 1:
            raise ValueError(f"wav2lip pads={self.pads} (top,bottom,left,right) / smooth={self.smooth} (>= 1)")
        if self.resize == "crop" and (any(self.pads) or self.smooth != 1):
            raise ValueError("wav2lip resize=crop reads the clip's 128 crops of its boxes: pads and smoothing need "
                             "resize=box")

    @classmethod
    def official(cls) -> InferenceConfig:
        return cls()

    @classmethod
    def trained(cls) -> InferenceConfig:
        return cls(resize="crop", pads=(0, 0, 0, 0), smooth=1)

    @classmethod
    def preset(cls, name: str) -> InferenceConfig:
        presets = {"official": cls.official, "trained": cls.trained}
        if name not in presets:
            raise ValueError(f"wav2lip preset={name!r}: one of {', '.join(presets)}")
        return presets[name]()

    def with_options(self, options: dict) -> InferenceConfig:
        """Override fields from adapter options (strings, e.g. ``pads="0,10,0,0"``, ``smooth="1"``)."""
        changes = {k: options[k] for k in ("paste", "resize", "quantise", "frames") if k in options}
        if "pads" in options:
            changes["pads"] = tuple(int(v) for v in str(options["pads"]).split(","))
        if "smooth" in options:
            changes["smooth"] = int(options["smooth"])
        return replace(self, **changes)

    def describe(self) -> str:
        d = asdict(self)
        d["pads"] = ",".join(map(str, self.pads))
        return " ".join(f"{k}={v}" for k, v in d.items())


def pad_boxes(boxes: np.ndarray, pads: tuple[int, int, int, int], width: int, height: int) -> np.ndarray:
    """(T, 4) x1,y1,x2,y2 (end exclusive) grown by pads (top, bottom, left, right) and clipped to the frame."""
    top, bottom, left, right = pads
    b = np.asarray(boxes, np.int64)
    out = np.stack([np.maximum(0, b[:, 0] - left), np.maximum(0, b[:, 1] - top),
                    np.minimum(width, b[:, 2] + right), np.minimum(height, b[:, 3] + bottom)], axis=1)
    empty = np.flatnonzero((out[:, 2] <= out[:, 0]) | (out[:, 3] <= out[:, 1]))
    if len(empty):
        raise ValueError(f"wav2lip pads={pads} leave an empty box at frame {int(empty[0])}")
    return out


def smooth_boxes(boxes: np.ndarray, t: int) -> np.ndarray:
    """inference.py's ``get_smoothened_boxes``: box i = mean of boxes i..i+t-1, truncated to int, in place; the last
    t-1 boxes use the final window ``boxes[n - t:]``, which by then holds boxes already smoothed (a clip shorter
    than t frames gets Python's wrap-around slice ``boxes[n - t:]``, as the release)."""
    out = np.array(boxes, np.int64)
    n = len(out)
    if t <= 1:
        return out
    for i in range(n):
        window = out[n - t:] if i + t > n else out[i:i + t]
        out[i] = np.mean(window, axis=0)  # float -> int64 assignment truncates, as in the release
    return out


def face_inputs(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) RGB frames, (T, 4) boxes -> (T, 96, 96, 3) BGR: ``cv2.resize(frame[y1:y2, x1:x2], (96, 96))``."""
    return np.stack([cv2.resize(f[y1:y2, x1:x2], (IMG_SIZE, IMG_SIZE))[..., ::-1]
                     for f, (x1, y1, x2, y2) in zip(frames, boxes, strict=True)])


def to_uint8(pred: np.ndarray, mode: str) -> np.ndarray:
    """Model output in [0, 1] -> uint8: ``(pred * 255).astype(uint8)`` (truncate) or rounded."""
    x = pred.astype(np.float32) * np.float32(255.0)
    return (x + np.float32(0.5) if mode == "round" else x).astype(np.uint8)


def paste_box(frames: np.ndarray, faces: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Copies of frames with each face resized straight to its box and replacing the whole box."""
    out = frames.copy()
    for o, face, (x1, y1, x2, y2) in zip(out, faces, boxes, strict=True):
        o[y1:y2, x1:x2] = cv2.resize(face, (int(x2 - x1), int(y2 - y1)))
    return out


def frame_mels(mel: np.ndarray, n_video: int, rule: str, mel_shift: int = 0, fps: float = 25.0) -> np.ndarray:
    """(80, M) mel -> (n, 80, 16) windows of the frames to generate: ``rule="mel"``: n = min(chunks, n_video) (the
    release makes one frame per chunk and cycles the video if the audio is longer; frames past the video are cut by
    our output contract anyway); ``"video"``: n = n_video. Frame i takes window ``i + mel_shift`` (clipped)."""
    from stsa.data.audio import mel_chunks, mel_windows

    windows = mel_chunks(mel, fps) if rule == "mel" else mel_windows(mel, n_video, fps)
    n = min(len(windows), n_video)
    return windows[np.clip(np.arange(n) + mel_shift, 0, len(windows) - 1)]


def generate(model, frames: np.ndarray, boxes: np.ndarray, mel: np.ndarray, cfg: InferenceConfig,
             crops: np.ndarray | None = None, batch: int = 32, device="cpu") -> np.ndarray:
    """frames (T, H, W, 3) RGB uint8, boxes (T, 4) x1,y1,x2,y2, mel (80, M) -> (n, H, W, 3) RGB uint8, n <= T frames
    (``frame_mels``). ``crops`` (T, 128, 128, 3) RGB are the faces when ``cfg.resize == "crop"``."""
    import torch

    from baselines.wav2lip.data import faces_96, to_tensor_images
    from stsa.data.crops import paste_faces

    mels = frame_mels(mel, len(frames), cfg.frames, model.config.mel_shift)
    n = len(mels)
    frames = frames[:n]
    h, w = frames.shape[1:3]
    boxes = smooth_boxes(pad_boxes(boxes[:n], cfg.pads, w, h), cfg.smooth)
    faces = faces_96(crops[:n]) if cfg.resize == "crop" else face_inputs(frames, boxes)  # (n, 96, 96, 3) BGR
    out = []
    with torch.no_grad():
        for i in range(0, n, batch):
            # both (B, C, 96|80, 96|16) views of channels-last arrays, as the release's np.transpose makes them:
            # the strides pick the convolution kernels, hence the float summation order
            f = to_tensor_images(faces[i:i + batch]).to(device)
            m = torch.from_numpy(mels[i:i + batch].reshape(-1, 80, 16, 1)).permute(0, 3, 1, 2).to(device)
            pred = model(m, masked_input(f, f)).permute(0, 2, 3, 1).cpu().numpy()  # (B, 96, 96, 3) BGR
            out.append(to_uint8(pred, cfg.quantise))
    gen = np.ascontiguousarray(np.concatenate(out)[..., ::-1])  # BGR -> RGB
    return paste_box(frames, gen, boxes) if cfg.paste == "box" else paste_faces(frames, gen, boxes)
