"""Talking faces for the demo corpus: real photos warped around their FaceMesh landmarks.

Per identity, the photo is cropped around its face onto a canvas and two dense displacement basis fields (jaw
opening, lip spread) are interpolated from per-landmark displacements over a Delaunay triangulation of the mesh plus
border points. A frame is then ``canvas`` sampled through one ``cv2.remap`` whose map is the linear combination of
the basis fields composed with the head-motion similarity transform; the open mouth (dark cavity, teeth) and
blinking lids are painted anti-aliased on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PHOTOS = ("astronaut", "grace_hopper")
INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
UPPER_INNER, LOWER_INNER = INNER_LIP[:11], (308, *INNER_LIP[11:], 78)
LOWER_LIP = {146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324}
UPPER_LIP_INNER = {191, 80, 81, 82, 13, 312, 311, 310, 415}
UPPER_LIP_OUTER = {185, 40, 39, 37, 0, 267, 269, 270, 409}
EYES = (  # (corner, upper lid, corner, lower lid in the same direction)
    (33, (246, 161, 160, 159, 158, 157, 173), 133, (7, 163, 144, 145, 153, 154, 155)),
    (263, (466, 388, 387, 386, 385, 384, 398), 362, (249, 390, 373, 374, 380, 381, 382)),
)
JAW_AMPLITUDE = 0.15  # jaw_open = 1 lowers the lower lip and chin by this fraction of the face height
CAVITY_RGB, TEETH_RGB, LOWER_TEETH_RGB = (45, 18, 22), (215, 206, 188), (150, 138, 126)
SPREAD_AMPLITUDE = 0.22  # lip_spread = 1 moves each mouth corner out by this fraction of the half mouth width


def load_photo(name: str) -> np.ndarray:
    """A face photo shipped with an installed package: (H, W, 3) uint8 RGB."""
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut()[..., :3])
    if name == "grace_hopper":
        import matplotlib.cbook as cbook
        from PIL import Image

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.asarray(Image.open(f).convert("RGB"))
    raise ValueError(f"unknown photo {name!r}; choose from {PHOTOS}")


@dataclass(frozen=True)
class IdentitySpec:
    """One pseudo-identity: a photo plus mirroring, zoom, colour and background changes."""

    photo: str
    mirror: bool = False
    zoom: float = 1.0  # > 1 makes the face larger in the frame
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel colour gains
    gamma: float = 1.0
    background: tuple[float, float, float] | None = None  # tint blended into the background
    f0: float = 200.0  # voice pitch (Hz)


def identity_specs(n: int, seed: int) -> list[IdentitySpec]:
    """``n`` pseudo-identities; the first two are the unmodified photos, the rest vary deterministically."""
    rng = np.random.default_rng([seed, 7919])
    specs = [IdentitySpec(PHOTOS[0], f0=210.0), IdentitySpec(PHOTOS[1], f0=185.0)][:n]
    for k in range(len(specs), n):
        specs.append(IdentitySpec(
            PHOTOS[k % 2], mirror=(k // 2) % 2 == 1, zoom=float(rng.uniform(0.88, 1.12)),
            gains=tuple(float(g) for g in rng.uniform(0.9, 1.1, 3)), gamma=float(rng.uniform(0.85, 1.15)),
            background=tuple(float(c) for c in rng.uniform(20, 235, 3)), f0=float(rng.uniform(100, 230))))
    return specs


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass
class FaceRig:
    """An identity ready to animate at one frame size."""

    canvas: np.ndarray  # (C, C, 3) uint8 source image (frame plus margin)
    points: np.ndarray  # (478, 2) landmarks in canvas pixels
    jaw: np.ndarray  # (478, 2) vertex displacement for jaw_open = 1
    spread: np.ndarray  # (478, 2) vertex displacement for lip_spread = 1
    fields: np.ndarray  # (2, C, C, 2) float32 dense jaw / spread displacement
    size: int  # output frame size S
    lid_colour: np.ndarray  # (3,) skin colour above the eyes

    @property
    def margin(self) -> float:
        return (self.canvas.shape[0] - self.size) / 2


def _vertex_displacements(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(478, 2) canvas landmarks -> jaw and spread displacements (478, 2) per unit control."""
    left, right = p[[33, 133]].mean(0), p[[362, 263]].mean(0)
    r = (right - left) / np.linalg.norm(right - left)
    if r[0] < 0:  # mirrored photos: keep r pointing to +x
        r = -r
    d = np.array([-r[1], r[0]])  # face "down" axis
    face_h, face_w = np.linalg.norm(p[10] - p[152]), np.linalg.norm(p[234] - p[454])
    m = (p[13] + p[14]) / 2
    x, y = (p - m) @ r / (0.5 * face_w), (p - m) @ d / face_h
    w = _smoothstep(y, -0.01, 0.05) * np.exp(-(x / 0.9) ** 2)
    ids = np.arange(len(p))
    w = np.where(np.isin(ids, list(LOWER_LIP)), np.exp(-(x / 0.9) ** 2), w)
    w = np.where(np.isin(ids, list(UPPER_LIP_INNER)), -0.1, w)
    w = np.where(np.isin(ids, list(UPPER_LIP_OUTER)), -0.05, w)
    jaw = JAW_AMPLITUDE * face_h * w[:, None] * d[None, :]
    hw = np.linalg.norm(p[61] - p[291]) / 2
    xm, ym = (p - m) @ r / hw, (p - m) @ d / hw
    g = np.exp(-np.maximum(np.abs(xm) - 1.0, 0) ** 2 / 0.3 - (ym / 1.2) ** 2)
    spread = SPREAD_AMPLITUDE * hw * g[:, None] * (np.clip(xm, -1.2, 1.2)[:, None] * r)
    return jaw, spread


def _dense_fields(points: np.ndarray, disps: list[np.ndarray], size: int) -> np.ndarray:
    """Barycentric interpolation of vertex displacements over a Delaunay triangulation: (K, C, C, 2)."""
    from scipy.spatial import Delaunay

    c = points.mean(0)
    ring = c + 1.35 * (points[[10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
                                400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
                                54, 103, 67, 109]] - c)
    edge = np.linspace(0, size - 1, 9)
    border = np.concatenate([np.stack([edge, np.zeros(9)], 1), np.stack([edge, np.full(9, size - 1)], 1),
                             np.stack([np.zeros(9), edge], 1), np.stack([np.full(9, size - 1), edge], 1)])
    extra = np.concatenate([ring, border])
    extra = extra[(extra >= 0).all(1) & (extra <= size - 1).all(1)]
    verts = np.concatenate([points, extra])
    tri = Delaunay(verts)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    grid = np.stack([xx.ravel(), yy.ravel()], 1)
    simplex = tri.find_simplex(grid)
    inside = simplex >= 0
    t = tri.transform[simplex[inside]]  # (P, 3, 2)
    b = np.einsum("pij,pj->pi", t[:, :2], grid[inside] - t[:, 2])
    bary = np.concatenate([b, 1 - b.sum(1, keepdims=True)], 1)  # (P, 3)
    corners = tri.simplices[simplex[inside]]  # (P, 3)
    fields = np.zeros((len(disps), size * size, 2), np.float32)
    for k, disp in enumerate(disps):
        dv = np.concatenate([disp, np.zeros((len(extra), 2))])
        fields[k, inside] = np.einsum("pk,pkc->pc", bary, dv[corners])
    return fields.reshape(len(disps), size, size, 2)


def build_rig(photo: np.ndarray, mesh: np.ndarray, spec: IdentitySpec, size: int) -> FaceRig:
    """Crop ``photo`` (with its (478, 2) FaceMesh points) around the face and precompute the basis fields."""
    import cv2

    lo, hi = mesh.min(0), mesh.max(0)
    face_h = hi[1] - lo[1]
    centre = (lo + hi) / 2 + np.array([0.0, 0.04 * face_h])
    csize = int(round(1.3 * size))
    scale = size / (1.8 * face_h / spec.zoom)  # face height ~ 0.55 of the frame
    sx = -scale if spec.mirror else scale
    affine = np.array([[sx, 0, csize / 2 - sx * centre[0]], [0, scale, csize / 2 - scale * centre[1]]])
    canvas = cv2.warpAffine(photo, affine, (csize, csize), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT101)
    points = mesh @ affine[:, :2].T + affine[:, 2]
    img = canvas.astype(np.float32) / 255.0
    img = np.clip(img ** spec.gamma * np.array(spec.gains, np.float32), 0, 1)
    if spec.background is not None:  # soft head mask (face widened, raised for hair); tint the rest
        c = points.mean(0)
        h, w = np.ptp(points[:, 1]), np.ptp(points[:, 0])
        mask = np.zeros((csize, csize), np.float32)
        cv2.ellipse(mask, (int(c[0]), int(c[1] - 0.15 * h)), (int(0.85 * w), int(0.8 * h)), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 0.08 * h)[..., None]
        tint = np.array(spec.background, np.float32) / 255.0
        img = mask * img + (1 - mask) * (0.45 * img + 0.55 * tint)
    canvas = (img * 255 + 0.5).astype(np.uint8)
    jaw, spread = _vertex_displacements(points)
    fields = _dense_fields(points, [jaw, spread], csize)
    lids = []
    for c0, upper, c1, _ in EYES:
        eye_w = np.linalg.norm(points[c0] - points[c1])
        x, y = (points[list(upper)].mean(0) - [0, 0.25 * eye_w]).astype(int)
        lids.append(canvas[max(y - 1, 0):y + 2, max(x - 2, 0):x + 3].reshape(-1, 3).mean(0))
    return FaceRig(canvas, points, jaw, spread, fields, size, np.mean(lids, 0))


@dataclass
class Motion:
    """Per-frame head motion and blinks."""

    rotation: np.ndarray  # (T,) degrees
    translation: np.ndarray  # (T, 2) output pixels
    scale: np.ndarray  # (T,)
    blink: np.ndarray  # (T,) in [0, 1]


def head_motion(n_frames: int, size: int, rng: np.random.Generator, fps: int = 25,
                blinks: bool = True) -> Motion:
    """Smooth motion: each parameter a sum of three low-frequency sinusoids; blinks every ~2-5 s."""
    t = np.arange(n_frames) / fps

    def wave(amplitude: float) -> np.ndarray:
        f = rng.uniform(0.08, 0.6, 3)
        a = rng.uniform(0.3, 1.0, 3)
        ph = rng.uniform(0, 2 * np.pi, 3)
        return amplitude * (a[:, None] * np.sin(2 * np.pi * f[:, None] * t + ph[:, None])).sum(0) / a.sum()

    blink = np.zeros(n_frames)
    if blinks:
        shape = np.array([0.35, 0.85, 1.0, 0.7, 0.3])
        start = int(rng.integers(5, 3 * fps))
        while start + len(shape) <= n_frames:
            blink[start:start + len(shape)] = shape
            start += int(rng.integers(2 * fps, 5 * fps))
    return Motion(wave(4.0), np.stack([wave(0.03 * size), wave(0.025 * size)], 1), 1 + wave(0.04), blink)


def _similarity(rig: FaceRig, rotation: float, translation: np.ndarray, scale: float) -> np.ndarray:
    """(2, 3) canvas -> output pixels: rotate/scale about the face centre, then shift."""
    c = rig.points.mean(0)
    a = np.deg2rad(rotation)
    rs = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.concatenate([rs, (c - rig.margin + translation - rs @ c)[:, None]], 1)


def _paint(frame: np.ndarray, polys: list[tuple[np.ndarray, tuple]], clip: np.ndarray | None = None,
           ss: int = 4) -> None:
    """Composite filled polygons ((N, 2) output pixels, RGB colour; later over earlier) in place, anti-aliased by
    ``ss``-times supersampling; with ``clip`` only inside that polygon."""
    import cv2

    region = clip if clip is not None else np.concatenate([p for p, _ in polys])
    x0, y0 = np.maximum(np.floor(region.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(region.max(0)).astype(int) + 3, frame.shape[1::-1])
    if x1 <= x0 or y1 <= y0:
        return
    h, w = y1 - y0, x1 - x0

    def mask(pts: np.ndarray) -> np.ndarray:
        m = np.zeros((h * ss, w * ss), np.float32)
        cv2.fillPoly(m, [np.round((pts - [x0, y0]) * ss * 16).astype(np.int32)], 1.0, cv2.LINE_8, shift=4)
        return m

    alpha = np.zeros((h * ss, w * ss), np.float32)
    colour = np.zeros((h * ss, w * ss, 3), np.float32)
    for pts, col in polys:
        m = mask(pts)
        colour = colour * (1 - m[..., None]) + m[..., None] * np.asarray(col, np.float32)
        alpha = np.maximum(alpha, m)
    if clip is not None:
        alpha = mask(clip)
    a = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA)[..., None]
    c = cv2.resize(colour * alpha[..., None], (w, h), interpolation=cv2.INTER_AREA)
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = np.clip(roi * (1 - a) + c + 0.5, 0, 255).astype(np.uint8)


def render_frame(rig: FaceRig, jaw: float, spread: float, blink: float, rotation: float,
                 translation: np.ndarray, scale: float) -> np.ndarray:
    """One (S, S, 3) uint8 frame of the rig in the given state."""
    import cv2

    field = np.float32(jaw) * rig.fields[0] + np.float32(spread) * rig.fields[1]  # (C, C, 2) forward displacement
    c = rig.canvas.shape[0]
    yy, xx = np.mgrid[0:c, 0:c].astype(np.float32)
    backward = np.stack([xx, yy], -1) - field  # first-order inverse of the deformation
    sim = _similarity(rig, rotation, translation, scale)
    maps = cv2.warpAffine(backward, sim, (rig.size, rig.size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    frame = cv2.remap(rig.canvas, maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    pts = (rig.points + jaw * rig.jaw + spread * rig.spread) @ sim[:, :2].T + sim[:, 2]
    # open mouth: dark cavity inside the inner lips, upper and lower teeth bands clipped to it
    upper, lower = pts[list(UPPER_INNER)], pts[list(LOWER_INNER)]
    width = np.linalg.norm(pts[78] - pts[308])
    gap = np.linalg.norm(pts[13] - pts[14])
    if gap > 0.5:
        tooth = min(0.12 * width, 0.35 * gap)
        cavity = pts[list(INNER_LIP)]
        upper_teeth = np.concatenate([upper, upper[::-1] + [0, tooth]])
        lower_teeth = np.concatenate([lower, lower[::-1] - [0, 0.6 * tooth]])
        _paint(frame, [(cavity, CAVITY_RGB), (upper_teeth, TEETH_RGB), (lower_teeth, LOWER_TEETH_RGB)], clip=cavity)
    if blink > 0.05:  # the upper lid sweeps down towards the lower lid
        for c0, up, c1, low in EYES:
            top, bottom = pts[list(up)], pts[list(low)]
            lid = top + 0.95 * blink * (bottom - top)
            _paint(frame, [(np.concatenate([pts[[c0]], top, pts[[c1]], lid[::-1]]), tuple(rig.lid_colour * 0.92))])
            if blink > 0.5:
                line = np.concatenate([pts[[c0]], lid, pts[[c1]]])
                cv2.polylines(frame, [np.round(line * 16).astype(np.int32)], False, (40, 30, 30), 1,
                              cv2.LINE_AA, shift=4)
    return frame
