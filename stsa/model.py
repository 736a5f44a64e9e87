"""The two STSA stages assembled as in the public release (SCAILab-USTC/STSA), plus release-weight loading.

Stage 1 `GuidancePredictor` (release: Heatmap_generator) and stage 2 `FaceRenderer` (release: Face_renderer).
With `STSAConfig.paper()` their state dicts have exactly the keys and shapes of heatmap_weight.pth and
face_weight.pth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from stsa.config import STSAConfig
from stsa.errors import WeightsError
from stsa.modules.audio_encoder import RendererAudioEncoder, guidance_audio_encoder
from stsa.modules.cil import MINE, ChannelAlign, cil_bounds, embed
from stsa.modules.conv_blocks import DownBlock2d, SameBlock2d, weight_init
from stsa.modules.fusion import fusion_block
from stsa.modules.generator import TranslationNetwork
from stsa.modules.guidance_transformer import FusionTransformer
from stsa.modules.heatmap_decoder import HeatmapDecoder
from stsa.modules.keypoint_extractor import content_landmarks, heatmap_encoder
from stsa.modules.perceptual import PerceptualLoss
from stsa.modules.spatial_path import HeatmapEncoder, RefImageEncoder, SpatialNetwork
from stsa.modules.temporal_path import TemporalNetwork, TemporalReferences, expand_batch


def _check(name: str, x: torch.Tensor, shape: tuple[int | None, ...]) -> None:
    """Raise ValueError unless x has len(shape) dims matching every non-None entry."""
    if x.dim() != len(shape) or any(s is not None and d != s for d, s in zip(x.shape, shape, strict=True)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")


class GuidancePredictor(nn.Module):
    """Stage 1: audio + pose heatmaps + reference heatmaps -> predicted face heatmap and 57 content landmarks."""

    def __init__(self, cfg: STSAConfig):
        super().__init__()
        g = cfg.guidance
        d = g.d_model
        self.cfg = cfg
        self.mel_encoder = guidance_audio_encoder(cfg.audio_dim, cfg.audio_window, g.audio_channels, d)
        self.pose_encoder = heatmap_encoder(g.enc_channels, d)
        self.ref_encoder = heatmap_encoder(g.enc_channels, d)
        self.lip_encoder = heatmap_encoder(g.enc_channels, d)
        self.jaw_encoder = heatmap_encoder(g.enc_channels, d)
        self.heatmap_decoder = HeatmapDecoder(d, 1, g.message_passing)
        self.fusion_transformer = FusionTransformer(d, g.nlayers, g.nhead, g.dim_feedforward, g.dropout, g.max_len)
        self.mouse_keypoint_map = nn.Linear(d, g.n_lip * 2)
        self.jaw_keypoint_map = nn.Linear(d, g.n_jaw * 2)
        self.apply(weight_init)
        self.Norm = nn.LayerNorm(d)

    def encode_references(self, ref_heatmaps: torch.Tensor) -> torch.Tensor:
        """ref_heatmaps (B,N,1,128,128) -> reference tokens (B,N,D), to pass as forward's `ref_codes`."""
        return self.Norm(self.ref_encoder(ref_heatmaps.flatten(0, 1)).flatten(1)).unflatten(0, ref_heatmaps.shape[:2])

    def encode_poses(self, pose_heatmaps: torch.Tensor) -> torch.Tensor:
        """pose heatmaps (M,1,128,128) -> pose tokens (M,D), to gather into forward's `pose_codes`."""
        return self.Norm(self.pose_encoder(pose_heatmaps).flatten(1))

    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """audio windows (M,A,W) -> audio tokens (M,D), to gather into `slot_heatmaps`' `audio_codes`."""
        return self.Norm(self.mel_encoder(audio).flatten(1))

    def _fuse(self, ref_codes: torch.Tensor, audio_codes: torch.Tensor, pose_codes: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """ref (1|B,N,D), audio (B,T,D), pose (B,T,D) tokens -> transformer outputs at the audio (lip) and pose
        (jaw) positions, each (B,T,D)."""
        n, t = ref_codes.size(1), audio_codes.size(1)
        tokens = self.fusion_transformer(expand_batch(ref_codes, audio_codes.size(0)), audio_codes, pose_codes)
        return tokens[:, n:n + t], tokens[:, n + t:]                           # (B,N+2T,D) -> 2 x (B,T,D)

    def forward(self, audio: torch.Tensor, pose_heatmaps: torch.Tensor, ref_heatmaps: torch.Tensor | None, *,
                ref_codes: torch.Tensor | None = None, pose_codes: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """audio (B,T,A,W), pose_heatmaps (B,T,1,128,128), ref_heatmaps (B,N,1,128,128)
        -> heatmaps (B*T,1,128,128) = lip + jaw (each tanh), content_landmarks (B*T,2,57) jaw then lip.

        `ref_codes` (B or 1,N,D) from `encode_references` replaces the encoding of ref_heatmaps (then unread, may
        be None); `pose_codes` (B,T,D) from `encode_poses` the encoding of pose_heatmaps (still read by the
        heatmap decoder)."""
        cfg = self.cfg
        _check("audio", audio, (None, None, cfg.audio_dim, cfg.audio_window))
        b, t = audio.size(0), audio.size(1)
        _check("pose_heatmaps", pose_heatmaps, (b, t, 1, 128, 128))
        if ref_codes is None:
            if ref_heatmaps is None:
                raise ValueError("ref_heatmaps is required unless ref_codes is given")
            _check("ref_heatmaps", ref_heatmaps, (b, None, 1, 128, 128))
            ref_codes = self.encode_references(ref_heatmaps)                   # (B,N,D)
        pose = pose_heatmaps.flatten(0, 1)                                     # (B*T,1,128,128)
        a = self.encode_audio(audio.flatten(0, 1))                             # (B*T,D)
        if pose_codes is not None:
            _check("pose_codes", pose_codes, (b, t, ref_codes.size(-1)))
        p = self.encode_poses(pose) if pose_codes is None else pose_codes.flatten(0, 1)   # (B*T,D)
        lip, jaw = (x.flatten(0, 1) for x in self._fuse(ref_codes, a.view(b, t, -1), p.view(b, t, -1)))  # (B*T,D)
        lip_hm, jaw_hm = self.heatmap_decoder(lip[..., None, None], jaw[..., None, None], pose)  # (B*T,1,128,128)
        lip_code = self.lip_encoder(lip_hm).flatten(1) + lip                   # (B*T,D), shortcut
        jaw_code = self.jaw_encoder(jaw_hm).flatten(1) + jaw
        landmarks = content_landmarks(self.jaw_keypoint_map(jaw_code), self.mouse_keypoint_map(lip_code))
        return lip_hm + jaw_hm, landmarks

    def slot_heatmaps(self, audio_codes: torch.Tensor, pose_codes: torch.Tensor, ref_codes: torch.Tensor,
                      slot_pose: torch.Tensor, slot: int) -> torch.Tensor:
        """Inference: the heatmap of one window slot only, from precomputed tokens (the decoder works per slot,
        so this equals ``forward(...)[0]`` at that slot; no keypoint heads).

        audio_codes, pose_codes (B,T,D), ref_codes (1|B,N,D), slot_pose = that slot's pose heatmap (B,1,128,128)
        -> (B,1,128,128)."""
        lip, jaw = self._fuse(ref_codes, audio_codes, pose_codes)              # (B,T,D) each
        lip_hm, jaw_hm = self.heatmap_decoder(lip[:, slot, :, None, None], jaw[:, slot, :, None, None], slot_pose)
        return lip_hm + jaw_hm


def blend_upper_half(upper: torch.Tensor, generated: torch.Tensor, feather: int) -> torch.Tensor:
    """(B,3,H,W) input face (only rows < H/2 used) over the generated (B,3,H,W): rows >= H/2 generated, rows
    < H/2 - feather input, a linear ramp between (the demo preset's `RendererConfig.blend_upper_half`)."""
    h = generated.size(-2)
    y = torch.arange(h, device=generated.device, dtype=generated.dtype)
    w = ((y + 1 - (h // 2 - feather)) / (feather + 1)).clamp(0, 1).view(h, 1)   # weight of the generated rows
    return upper * (1 - w) + generated * w


@dataclass
class RendererOutput:
    """What `FaceRenderer.forward` returns."""

    image: torch.Tensor                                   # (B,3,128,128) in [0,1]
    mi_lower_bound: torch.Tensor | None = None            # scalar: sum over scales of the DV bound
    mi_per_scale: list[torch.Tensor] = field(default_factory=list)        # 3 scalars (128, 64, 32)
    spatial_embeddings: list[torch.Tensor] = field(default_factory=list)  # 3 x (B,cil_dim), empty if no CIL
    temporal_embeddings: list[torch.Tensor] = field(default_factory=list)
    warped_reference: torch.Tensor | None = None          # (B,3,128,128) temporal path's weighted warp
    fused_features: list[torch.Tensor] = field(default_factory=list)      # [(B,c,128,128), (64), (32)]


@dataclass
class ReferenceFeatures:
    """What `FaceRenderer` computes from the N reference faces and heatmaps alone (`encode_references`): constant
    over a video in eval mode, so inference computes it once and passes it as `forward(..., references=...)`.
    A batch of 1 is broadcast to forward's batch. Fields of a path the config disables are None."""

    ref_feats: list[torch.Tensor] | None = None    # spatial: ref_imgs_encoder, [(B,c128,128,128), (64), (32)]
    ref_hm: torch.Tensor | None = None             # spatial: heatmap_encoder_ref, (B,Ch,32,32)
    appearance: list[torch.Tensor] | None = None   # spatial: SpatialNetwork.appearance(ref_feats), same shapes
    temporal: TemporalReferences | None = None     # temporal: N x the images and conv1..3 features

    def expand(self, b: int) -> ReferenceFeatures:
        """The same features for a batch of b (views, no copy, when the batch is 1)."""
        def many(xs: list[torch.Tensor] | None) -> list[torch.Tensor] | None:
            return None if xs is None else [expand_batch(x, b) for x in xs]

        return ReferenceFeatures(many(self.ref_feats), None if self.ref_hm is None else expand_batch(self.ref_hm, b),
                                 many(self.appearance), None if self.temporal is None else self.temporal.expand(b))


class FaceRenderer(nn.Module):
    """Stage 2: masked target face + target heatmap + N reference faces/heatmaps + audio -> face."""

    def __init__(self, cfg: STSAConfig):
        super().__init__()
        r = cfg.renderer
        self.cfg = cfg
        c128, c64, c32 = r.feat_channels
        if r.use_spatial:
            self.ref_imgs_encoder = RefImageEncoder(r.n_ref, r.feat_channels, r.ref_mid_channels)
            self.heatmap_encoder_tar = HeatmapEncoder(3, r.heatmap_channels)
            self.heatmap_encoder_ref = HeatmapEncoder(3 * r.n_ref, r.heatmap_channels)
        self.audio_encoder = RendererAudioEncoder(cfg.audio_dim, cfg.audio_window, r.audio_channels)
        if r.use_spatial:
            self.spatial_module = SpatialNetwork(r.feat_channels, r.heatmap_channels, r.align_channels,
                                                 r.audio_channels)
        if r.use_temporal:
            self.temporal_module = TemporalNetwork(r.feat_channels, r.audio_channels, r.spade_hidden,
                                                   r.adain_hidden)
        if r.keep_source_encoder:   # defined but never used by the release
            s1, s2, s3 = r.source_channels
            self.source_img_encoder = nn.Sequential(SameBlock2d(3, s1, kernel_size=7, padding=3),
                                                    DownBlock2d(s1, s2), DownBlock2d(s2, s3))
        paths = int(r.use_spatial) + int(r.use_temporal)
        self.fuse_32 = fusion_block(paths * c32, c32, r.fusion_kernel)
        self.fuse_64 = fusion_block(paths * c64, c64, r.fusion_kernel)
        self.fuse_128 = fusion_block(paths * c128, c128, r.fusion_kernel)
        self.translation = TranslationNetwork(r.translation_channels, r.feat_channels, r.audio_channels,
                                              r.spade_hidden, r.adain_hidden)
        # loss network, never run in forward (see stsa.modules.perceptual)
        self.perceptual = PerceptualLoss() if r.keep_perceptual else None
        if r.use_cil:
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.align_layers = nn.ModuleList([ChannelAlign(c, r.cil_dim) for c in r.feat_channels])
        self.apply(weight_init)
        if r.use_cil:
            self.mine = MINE(2 * r.cil_dim, r.mine_hidden)
        if r.residual_on_warp and r.use_temporal:   # demo deviation: start as the warped reference
            nn.init.zeros_(self.translation.conv_last.weight)

    def encode_references(self, ref_faces: torch.Tensor, ref_heatmaps: torch.Tensor) -> ReferenceFeatures:
        """ref_faces (B,N,3,128,128), ref_heatmaps (B,N,3,128,128) -> the features forward computes from them."""
        r = self.cfg.renderer
        if r.ref_heatmap_mode == "release":   # the release's inference feeds the last reference's heatmap 5x
            ref_heatmaps = ref_heatmaps[:, -1:].expand_as(ref_heatmaps)
        refs = ReferenceFeatures()
        if r.use_spatial:
            refs.ref_feats = self.ref_imgs_encoder(ref_faces)                  # 3 scales
            refs.ref_hm = self.heatmap_encoder_ref(ref_heatmaps.flatten(1, 2))  # (B,Ch,32,32)
            refs.appearance = self.spatial_module.appearance(refs.ref_feats)
        if r.use_temporal:
            refs.temporal = self.temporal_module.encode_references(ref_faces, ref_heatmaps)
        return refs

    def forward(self, masked_face: torch.Tensor, target_heatmap: torch.Tensor, ref_faces: torch.Tensor | None,
                ref_heatmaps: torch.Tensor | None, audio: torch.Tensor, *, perm: torch.Tensor | None = None,
                references: ReferenceFeatures | None = None, with_cil: bool = True) -> RendererOutput:
        """masked_face (B,1,3,128,128) (rows 64-127 are zeroed here anyway), target_heatmap (B,1,3,128,128),
        ref_faces (B,N,3,128,128), ref_heatmaps (B,N,3,128,128), audio (B,1,A,W) -> RendererOutput.
        `perm` fixes the CIL batch shuffle (default: a fresh torch.randperm per scale).
        `references` (from `encode_references`, batch 1 or B) replaces the encoding of ref_faces / ref_heatmaps,
        which are then not read (may be None). `with_cil=False` skips the CIL bound (a training loss; the image
        does not depend on it): mi_lower_bound stays None and the embeddings empty."""
        r, cfg = self.cfg.renderer, self.cfg
        b = masked_face.size(0)
        _check("masked_face", masked_face, (b, 1, 3, 128, 128))
        _check("target_heatmap", target_heatmap, (b, 1, 3, 128, 128))
        _check("audio", audio, (b, 1, cfg.audio_dim, cfg.audio_window))
        if references is None:
            if ref_faces is None or ref_heatmaps is None:
                raise ValueError("ref_faces and ref_heatmaps are required unless references is given")
            _check("ref_faces", ref_faces, (b, r.n_ref, 3, 128, 128))
            _check("ref_heatmaps", ref_heatmaps, (b, r.n_ref, 3, 128, 128))
            references = self.encode_references(ref_faces, ref_heatmaps)
        else:
            references = references.expand(b)
        face = masked_face[:, 0].clone()                                       # (B,3,128,128)
        face[:, :, face.size(2) // 2:] = 0
        tar_hm = target_heatmap[:, 0]                                          # (B,3,128,128)
        code = self.audio_encoder(audio[:, 0])                                 # (B,Ca,1)
        out = RendererOutput(image=face)
        spatial = temporal = None
        if r.use_spatial:
            spatial = self.spatial_module(references.ref_feats, references.ref_hm, self.heatmap_encoder_tar(tar_hm),
                                          code, appearance=references.appearance)
        if r.use_temporal:
            temporal, out.warped_reference = self.temporal_module(None, None, tar_hm, code,
                                                                  references=references.temporal)
        if r.use_cil and with_cil:
            out.spatial_embeddings = [embed(a, f) for a, f in zip(self.align_layers, spatial, strict=True)]
            out.temporal_embeddings = [embed(a, f) for a, f in zip(self.align_layers, temporal, strict=True)]
            out.mi_per_scale = cil_bounds(self.mine, out.spatial_embeddings, out.temporal_embeddings, perm)
            out.mi_lower_bound = torch.stack(out.mi_per_scale).sum()
        parts = [p for p in (spatial, temporal) if p is not None]
        fused = [fuse(torch.cat([p[i] for p in parts], dim=1))
                 for i, fuse in enumerate((self.fuse_128, self.fuse_64, self.fuse_32))]
        out.fused_features = fused
        out.image = self.translation(torch.cat([face, tar_hm], dim=1), fused, code)   # (B,3,128,128)
        if r.residual_on_warp and out.warped_reference is not None:   # demo deviation: residual on the warp
            out.image = (out.warped_reference + 2 * out.image - 1).clamp(0, 1)
        if r.blend_upper_half:   # demo-preset deviation: keep the input's upper half
            out.image = blend_upper_half(face, out.image, r.blend_feather)
        return out


class STSA(nn.Module):
    """Both stages: `guidance` (stage 1) and `renderer` (stage 2)."""

    def __init__(self, cfg: STSAConfig | None = None):
        super().__init__()
        self.cfg = cfg or STSAConfig.paper()
        self.guidance = GuidancePredictor(self.cfg)
        self.renderer = FaceRenderer(self.cfg)


def _load_strict(module: nn.Module, sd: dict[str, torch.Tensor], path: str | Path) -> None:
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise WeightsError(path, f"state dict does not match the model ({str(e)[:300]})",
                           "use STSAConfig.paper(audio='wav2vec') for the released checkpoints") from e


def load_release_weights(model: STSA, heatmap_path: str | Path | None, face_path: str | Path | None) -> STSA:
    """Load heatmap_weight.pth into `model.guidance` and face_weight.pth into `model.renderer`, strictly.

    Accepts a bare state dict or {"state_dict": ...}, keys with or without a `module.` prefix. Either path may
    be None to skip that stage. Missing or mismatching files raise stsa.errors.WeightsError.
    """
    from stsa.weights import load_state_dict  # verifies the checksum when the manifest knows it

    if heatmap_path is not None:
        _load_strict(model.guidance, load_state_dict("stsa_heatmap", heatmap_path), heatmap_path)
    if face_path is not None:
        _load_strict(model.renderer, load_state_dict("stsa_face", face_path), face_path)
    return model
