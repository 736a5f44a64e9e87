"""The 131 FaceMesh landmarks of the STSA release, their groups and the lines drawn between them.

Positions below index the release's ``ori_sequence_idx`` order (0..130), which is the order every landmark array in
the suite uses: face oval 0-24, brows 25-44, nose 45-58, eyes 59-90, outer lips 91-110, inner lips 111-130.
"""

from __future__ import annotations

import numpy as np

# FaceMesh vertex id of each of the 131 positions (release inference.py ``ori_sequence_idx``).
MESH_IDS: tuple[int, ...] = (
    162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288,
    361, 323, 454, 356, 389,
    70, 63, 105, 66, 107, 55, 65, 52, 53, 46,
    336, 296, 334, 293, 300, 276, 283, 282, 295, 285,
    168, 6, 197, 195, 5,
    48, 115, 220, 45, 4, 275, 440, 344, 278,
    33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7,
    362, 398, 384, 385, 386, 387, 388, 466, 263, 249, 390, 373, 374, 380, 381, 382,
    61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146,
    78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95,
)
N_LANDMARKS = len(MESH_IDS)  # 131

LIP = tuple(range(91, 131))  # 40 lip points (outer 20 + inner 20)
JAW = tuple(range(4, 21))  # 17 lower-oval points (release's 57-point content set = JAW + LIP)
JAW_15 = tuple(range(5, 20))  # 15 lower-oval points (release's 55-point content set)
POSE = (*range(0, 4), *range(21, 25), *range(25, 91))  # 74 upper-half points
POSE_76 = (*range(0, 5), *range(20, 25), *range(25, 91))  # 76 upper-half points (stage-1 pose input)
CONTENT = (*JAW, *LIP)  # 57 points predicted from audio
# Paste-back contour: the release fills the polygon of a 68-point detector's jaw 0..16 then brows 26..17; these are
# the FaceMesh points at those places (jaw ear to ear through the chin, image left to right; upper brow lines right
# to left), in that order.
_CONTOUR_MESH_IDS = (127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,
                     300, 293, 334, 296, 336, 107, 66, 105, 63, 70)
PASTE_CONTOUR = tuple(MESH_IDS.index(i) for i in _CONTOUR_MESH_IDS)  # 27 positions in the 131 order
UPPER_LIP_MID, LOWER_LIP_MID = MESH_IDS.index(0), MESH_IDS.index(17)  # mouth openness = |p0 - p17|

_OVAL = [(389, 356), (356, 454), (454, 323), (323, 361), (361, 288), (288, 397), (397, 365), (365, 379),
         (379, 378), (378, 400), (400, 377), (377, 152), (152, 148), (148, 176), (176, 149), (149, 150),
         (150, 136), (136, 172), (172, 58), (58, 132), (132, 93), (93, 234), (234, 127), (127, 162)]
_LIPS = [(61, 146), (146, 91), (91, 181), (181, 84), (84, 17), (17, 314), (314, 405), (405, 321), (321, 375),
         (375, 291), (61, 185), (185, 40), (40, 39), (39, 37), (37, 0), (0, 267), (267, 269), (269, 270),
         (270, 409), (409, 291), (78, 95), (95, 88), (88, 178), (178, 87), (87, 14), (14, 317), (317, 402),
         (402, 318), (318, 324), (324, 308), (78, 191), (191, 80), (80, 81), (81, 82), (82, 13), (13, 312),
         (312, 311), (311, 310), (310, 415), (415, 308)]
_EYES = [(263, 249), (249, 390), (390, 373), (373, 374), (374, 380), (380, 381), (381, 382), (382, 362),
         (263, 466), (466, 388), (388, 387), (387, 386), (386, 385), (385, 384), (384, 398), (398, 362),
         (33, 7), (7, 163), (163, 144), (144, 145), (145, 153), (153, 154), (154, 155), (155, 133),
         (33, 246), (246, 161), (161, 160), (160, 159), (159, 158), (158, 157), (157, 173), (173, 133)]
_BROWS = [(276, 283), (283, 282), (282, 295), (295, 285), (300, 293), (293, 334), (334, 296), (296, 336),
          (46, 53), (53, 52), (52, 65), (65, 55), (70, 63), (63, 105), (105, 66), (66, 107)]
_NOSE = [(168, 6), (6, 197), (197, 195), (195, 5), (5, 4), (4, 45), (45, 220), (220, 115), (115, 48),
         (4, 275), (275, 440), (440, 344), (344, 278)]
_OVAL_UPPER = [(389, 356), (356, 454), (454, 323), (323, 361), (132, 93), (93, 234), (234, 127), (127, 162)]
_OVAL_LOWER = [e for e in _OVAL if e not in _OVAL_UPPER]


def _as_positions(edges: list[tuple[int, int]]) -> np.ndarray:
    """Mesh-id edges -> (E, 2) int array of positions in the 131 order."""
    return np.array([(MESH_IDS.index(a), MESH_IDS.index(b)) for a, b in edges], dtype=np.int64)


# Line sets drawn for the heatmaps (positions in the 131 order).
EDGES_FACE = _as_positions(_OVAL + _LIPS + _EYES + _BROWS + _NOSE)  # whole face (131 points)
EDGES_POSE = _as_positions(_EYES + _BROWS + _NOSE + _OVAL_UPPER)  # upper half / pose
EDGES_LIP = _as_positions(_LIPS)
EDGES_JAW = _as_positions(_OVAL_LOWER)
HEATMAP_EDGES: dict[str, np.ndarray] = {
    "face": EDGES_FACE, "pose": EDGES_POSE, "lip": EDGES_LIP, "jaw": EDGES_JAW,
}


def select_131(mesh_points: np.ndarray) -> np.ndarray:
    """(..., 478, 2) FaceMesh points -> (..., 131, 2) in the release order."""
    return mesh_points[..., list(MESH_IDS), :]


def mouth_openness(landmarks: np.ndarray) -> np.ndarray:
    """(..., 131, 2) -> (...,) distance between upper and lower lip midpoints (in the coordinates given; the
    release uses full-frame normalised ones, ``stsa.data.clip.ClipData.openness``)."""
    return np.linalg.norm(landmarks[..., UPPER_LIP_MID, :] - landmarks[..., LOWER_LIP_MID, :], axis=-1)


def select_references(openness: np.ndarray, n: int = 5) -> np.ndarray:
    """The release's reference frames: frames sorted by mouth openness (stable), the ones at
    ``torch.linspace(0, T - 1, n)`` truncated to int. (T,) -> (n,) int64 frame indices."""
    order = np.argsort(np.asarray(openness, np.float64), kind="stable")
    picks = np.linspace(0, len(order) - 1, n, dtype=np.float32).astype(np.int64)  # = int(torch.linspace(...)[k])
    return order[picks]
