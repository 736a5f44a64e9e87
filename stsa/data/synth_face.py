"""Talking faces for the demo corpus: real photos warped around their FaceMesh landmarks.

Each pseudo-identity is a real face photo shipped inside an installed package (scikit-image's astronaut,
matplotlib's Grace Hopper), varied by mirroring, scale, colour and background. Its mouth and eyes move through three
precomputed dense displacement fields (jaw opening, lip spread, blink): barycentric interpolation of landmark
displacements over a Delaunay triangulation of the mesh plus border anchors. A frame is then a linear combination of
the fields, one ``cv2.remap``, the mouth interior painted where the lips part, and one ``cv2.warpAffine`` for the
head motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# FaceMesh vertex ids
LOWER_LIP = (17, 84, 181, 91, 146, 314, 405, 321, 375, 14, 87, 178, 88, 95, 317, 402, 318, 324)
UPPER_LIP = (0, 37, 39, 40, 185, 267, 269, 270, 409, 13, 82, 81, 80, 191, 312, 311, 310, 415)
CORNERS = (61, 291, 78, 308)
INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
UPPER_LIDS = ((159, 158, 157, 160, 161), (386, 385, 384, 387, 388))
LOWER_LIDS = ((145, 153, 154, 144, 163), (374, 380, 381, 373, 390))
CHIN = 152


@dataclass(frozen=True)
class IdentityStyle:
    """How a photo becomes a pseudo-identity."""

    photo: str  # "astronaut" | "grace_hopper"
    mirror: bool = False
    face_fraction: float = 0.55  # face height / frame height
    hue_shift: int = 0  # OpenCV hue units (0..180)
    saturation: float = 1.0
    background: tuple[int, int, int] | None = None  # RGB tint outside the face ellipse


STYLES = (
    IdentityStyle("astronaut"),
    IdentityStyle("grace_hopper"),
    IdentityStyle("astronaut", mirror=True, face_fraction=0.6, hue_shift=6, background=(70, 110, 160)),
    IdentityStyle("grace_hopper", mirror=True, face_fraction=0.5, saturation=1.3, background=(150, 140, 90)),
    IdentityStyle("astronaut", face_fraction=0.5, hue_shift=172, saturation=0.8, background=(60, 130, 80)),
    IdentityStyle("grace_hopper", face_fraction=0.6, hue_shift=8, background=(120, 70, 120)),
)


def load_photo(name: str) -> np.ndarray:
    """A face photo shipped inside an installed package, (H, W, 3) uint8 RGB."""
    if name == "astronaut":
        import skimage.data

        return skimage.data.astronaut()
    if name == "grace_hopper":
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
            data = np.frombuffer(handle.read(), np.uint8)
        return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    raise ValueError(f"unknown photo {name!r}")


def _detect(detector, image: np.ndarray, what: str) -> np.ndarray:
    points = detector.detect(image)
    if points is None:
        raise RuntimeError(f"FaceMesh found no face in the {what}")
    return points


def _restyle(image: np.ndarray, points: np.ndarray, style: IdentityStyle) -> np.ndarray:
    """Colour and background changes of an identity frame."""
    if style.hue_shift or style.saturation != 1.0:
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.int32)
        hsv[..., 0] = (hsv[..., 0] + style.hue_shift) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] * style.saturation, 0, 255)
        image = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    if style.background is not None:
        (cx, cy), (w, h) = points.mean(0), points.max(0) - points.min(0)
        mask = np.zeros(image.shape[:2], np.float32)
        cv2.ellipse(mask, (int(cx), int(cy)), (int(w * 0.75), int(h * 0.85)), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(2.0, 0.06 * image.shape[0]))[..., None]
        tint = 0.35 * image + 0.65 * np.array(style.background, np.float32)
        image = np.clip(mask * image + (1 - mask) * tint, 0, 255).astype(np.uint8)
    return image


@dataclass
class Identity:
    """A pseudo-identity ready to animate: neutral frame, mesh points and displacement fields."""

    image: np.ndarray  # (S, S, 3) uint8 neutral frame
    points: np.ndarray  # (478, 2) FaceMesh points of the neutral frame
    fields: np.ndarray  # (3, S, S, 2) float32 dense displacement per unit of jaw, spread, blink
    point_moves: np.ndarray  # (3, 478, 2) landmark displacement per unit of jaw, spread, blink
    centre: tuple[float, float]  # head-motion pivot (face centre)


def landmark_moves(points: np.ndarray) -> np.ndarray:
    """(3, 478, 2) landmark displacements (pixels) for one unit of jaw opening, lip spread and blink."""
    moves = np.zeros((3, len(points), 2), np.float32)
    mouth_w = np.linalg.norm(points[291] - points[61])
    mouth_y = points[[13, 14]].mean(0)[1]
    cx = points[[61, 291]].mean(0)[0]
    chin_y = points[CHIN][1]
    # jaw: lower lip and everything below the mouth move down, most at the chin midline, less towards the angles
    below = points[:, 1] > mouth_y
    lateral = np.clip(1 - np.abs(points[:, 0] - cx) / (1.6 * mouth_w), 0.25, 1.0)
    depth = np.clip((points[:, 1] - mouth_y) / max(chin_y - mouth_y, 1.0), 0.0, 1.0)
    moves[0, below, 1] = (0.4 * mouth_w) * lateral[below] * (0.75 + 0.25 * depth[below])
    moves[0, list(LOWER_LIP), 1] = 0.4 * mouth_w * lateral[list(LOWER_LIP)]
    moves[0, list(UPPER_LIP), 1] = -0.06 * mouth_w
    moves[0, list(CORNERS), 1] = 0.2 * mouth_w
    # spread: lip points move horizontally away from the mouth centre (rounding pulls them in)
    lips = list(set(LOWER_LIP) | set(UPPER_LIP) | set(CORNERS))
    moves[1, lips, 0] = 0.16 * mouth_w * (points[lips, 0] - cx) / (0.5 * mouth_w)
    # blink: upper lids travel to the lower lids
    for upper, lower in zip(UPPER_LIDS, LOWER_LIDS, strict=True):
        gap = points[list(lower), 1].mean() - points[list(upper), 1].mean()
        moves[2, list(upper), 1] = 0.9 * gap
    return moves


def dense_fields(points: np.ndarray, moves: np.ndarray, size: int) -> np.ndarray:
    """(K, size, size, 2) dense displacement fields: barycentric interpolation over a Delaunay mesh."""
    from scipy.spatial import Delaunay

    border = np.array([(x, y) for x in np.linspace(0, size - 1, 5) for y in (0, size - 1)]
                      + [(x, y) for y in np.linspace(0, size - 1, 5)[1:-1] for x in (0, size - 1)], np.float64)
    nodes = np.concatenate([points.astype(np.float64), border])
    tri = Delaunay(nodes)
    ys, xs = np.mgrid[0:size, 0:size]
    pixels = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    simplex = tri.find_simplex(pixels)
    simplex[simplex < 0] = 0
    transform = tri.transform[simplex]  # (P, 3, 2)
    bary2 = np.einsum("pij,pj->pi", transform[:, :2], pixels - transform[:, 2])
    weights = np.concatenate([bary2, 1 - bary2.sum(1, keepdims=True)], axis=1)  # (P, 3)
    vertices = tri.simplices[simplex]  # (P, 3)
    node_moves = np.concatenate([moves, np.zeros((len(moves), len(border), 2), moves.dtype)], axis=1)
    fields = np.einsum("pv,kpvc->kpc", weights, node_moves[:, vertices])  # (K, P, 2)
    return fields.reshape(len(moves), size, size, 2).astype(np.float32)


def make_identity(style: IdentityStyle, size: int, detector) -> Identity:
    """Crop the photo around its face to ``size``, restyle it and precompute its displacement fields."""
    photo = load_photo(style.photo)
    if style.mirror:
        photo = np.ascontiguousarray(photo[:, ::-1])
    pts = _detect(detector, photo, f"photo {style.photo}")
    top, bottom = pts[:, 1].min(), pts[:, 1].max()
    side = (bottom - top) / style.face_fraction
    cx, cy = pts[:, 0].mean(), (top + bottom) / 2 + 0.04 * side
    scale = size / side
    m = np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]], np.float32)
    image = cv2.warpAffine(photo, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    points = _detect(detector, image, f"crop of {style.photo}")
    image = _restyle(image, points, style)
    points = _detect(detector, image, f"restyled crop of {style.photo}")
    moves = landmark_moves(points)
    centre = (float(points[:, 0].mean()), float(points[:, 1].mean()))
    return Identity(image, points, dense_fields(points, moves, size), moves, centre)


def _paint_mouth(frame: np.ndarray, inner: np.ndarray, opening: float, extra: float) -> None:
    """Dark mouth cavity with a hint of upper teeth inside the parted inner lips (anti-aliased, in place).

    ``extra`` in [0, 1] is how far the lips parted beyond the photo's own mouth: the cavity fades in with it.
    """
    if extra <= 0.0:
        return
    h, w = frame.shape[:2]
    shift = 3  # fixed-point bits for sub-pixel polygons
    poly = np.round(inner * (1 << shift)).astype(np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [poly], 255, lineType=cv2.LINE_AA, shift=shift)
    alpha = (mask.astype(np.float32) / 255 * extra)[..., None]
    top = inner[:, 1].min()
    ys = np.arange(h, dtype=np.float32)[:, None, None]
    teeth_band = np.clip(1 - (ys - top) / max(1.0, 0.35 * opening), 0, 1)  # bright band under the upper lip
    cavity = np.array([70, 22, 28], np.float32) * (1 - teeth_band) + np.array([225, 220, 205], np.float32) * teeth_band
    frame[:] = np.clip(alpha * cavity + (1 - alpha) * frame, 0, 255).astype(np.uint8)


def render_frame(identity: Identity, jaw: float, spread: float, blink: float, rotation_deg: float,
                 translation: tuple[float, float], scale: float) -> np.ndarray:
    """One (S, S, 3) uint8 frame of an identity in a mouth/eye state and head pose."""
    size = identity.image.shape[0]
    coef = np.array([jaw, spread, blink], np.float32)
    disp = np.tensordot(coef, identity.fields, axes=1)  # (S, S, 2)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    frame = cv2.remap(identity.image, xs - disp[..., 0], ys - disp[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REFLECT)
    moved = identity.points + np.tensordot(coef, identity.point_moves, axes=1)
    inner = moved[list(INNER_LIP)]
    opening = float(np.linalg.norm(moved[14] - moved[13]))
    neutral = float(np.linalg.norm(identity.points[14] - identity.points[13]))
    mouth_w = float(np.linalg.norm(identity.points[291] - identity.points[61]))
    _paint_mouth(frame, inner, opening, float(np.clip((opening - neutral) / (0.15 * mouth_w), 0.0, 1.0)))
    m = cv2.getRotationMatrix2D(identity.centre, rotation_deg, scale)
    m[:, 2] += translation
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
