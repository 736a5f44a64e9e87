"""Configuration of the two STSA stages, with the release's (`paper`) and a CPU-sized (`demo`) preset.

Where the public release and the paper disagree the release's behaviour is the `paper()` default, so that the
released checkpoints compute what the release computes; the paper's behaviour is an option:

| option | "release" (default of paper()) | paper |
|---|---|---|
| `GuidanceConfig.message_passing` | lip->jaw layer used in both directions | `"paper"`: own jaw->lip layer |
| `RendererConfig.fusion_kernel` | 3 (two 3x3 conv blocks) | 1 |
| `RendererConfig.ref_heatmap_mode` | every reference heatmap = the last one's | `"paper"`: each frame its own |

The release also runs its VGG19 perceptual loss inside `forward`; this code never does (see `stsa.modules.perceptual`).

Demo-preset deviations from the release (off in paper(), on in demo(); see BENCHMARKS.md "STSA inference and
training"), both using only inputs the release already gives the renderer:

- `RendererConfig.blend_upper_half`: output = the input face's upper half (rows 0-63) over the generated lower half,
  linear seam over the `blend_feather` rows above row 64 (like Reference-copy / MuseTalk's blending); the release
  regenerates the whole crop.
- `RendererConfig.residual_on_warp`: output = the temporal path's warped reference + 2 * (generator output - 0.5),
  the generator's last conv zero-initialised (so training starts from the warped reference); the release's output
  is the generator's alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

AudioFrontEnd = Literal["wav2vec", "mel"]

# (feature dim, window length) of one video frame's audio window per front end (stsa.data.audio)
AUDIO_SHAPES: dict[str, tuple[int, int]] = {"wav2vec": (768, 10), "mel": (80, 16)}


@dataclass
class GuidanceConfig:
    """Stage 1, the release's `Heatmap_generator`."""

    T: int = 5                      # frames per window
    n_ref: int = 5                  # reference heatmaps (N_l)
    d_model: int = 512
    nlayers: int = 8
    nhead: int = 4
    dim_feedforward: int = 1024
    dropout: float = 0.1
    # conv widths of the heatmap encoders (pose/ref/lip/jaw) before the final d_model projection
    enc_channels: tuple[int, int, int, int] = (32, 64, 128, 256)
    # conv widths of the audio encoder before the final d_model projection
    audio_channels: tuple[int, int] = (128, 256)
    max_len: int = 512              # positional table length (buffer `pe` is stored in the checkpoint)
    n_lip: int = 40
    n_jaw: int = 17
    message_passing: Literal["release", "paper"] = "release"

    def __post_init__(self) -> None:
        if self.d_model % 16:
            raise ValueError(f"GuidanceConfig.d_model={self.d_model} must be a multiple of 16 (decoder halves it 4x)")
        if self.d_model % self.nhead:
            raise ValueError(f"GuidanceConfig.d_model={self.d_model} must be divisible by nhead={self.nhead}")
        if self.message_passing not in ("release", "paper"):
            raise ValueError(f"message_passing must be 'release' or 'paper', got {self.message_passing!r}")


@dataclass
class RendererConfig:
    """Stage 2, the release's `Face_renderer`."""

    n_ref: int = 5
    # feature channels of the reference features at 128x128, 64x64, 32x32 (AdaAT scales; temporal path widths)
    feat_channels: tuple[int, int, int] = (32, 128, 256)
    ref_mid_channels: int = 64      # ref image encoder: 128 -> (down) this -> feat_channels[1]
    heatmap_channels: int = 32      # target / reference heatmap encoders (32x32 maps)
    align_channels: int = 128       # spatial alignment code
    audio_channels: int = 128       # renderer audio code (B, audio_channels, 1)
    spade_hidden: int = 256
    adain_hidden: int = 128
    translation_channels: tuple[int, int, int] = (32, 128, 512)  # generator encoder widths at 128, 64, 32
    source_channels: tuple[int, int, int] = (32, 64, 128)        # release's unused `source_img_encoder`
    keep_source_encoder: bool = True   # keep the unused release module so the state dict matches
    cil_dim: int = 128              # pooled per-scale embedding size
    mine_hidden: int = 128
    fusion_kernel: Literal[1, 3] = 3
    ref_heatmap_mode: Literal["release", "paper"] = "release"
    keep_perceptual: bool = True    # hold the VGG19 loss network under `perceptual.` (in the release's state dict)
    use_cil: bool = True
    use_spatial: bool = True
    use_temporal: bool = True
    # demo-preset deviations (not in the release, see the module docstring)
    blend_upper_half: bool = False  # output = input upper half over the generated lower half
    blend_feather: int = 4          # rows above the centre line over which the two blend linearly
    residual_on_warp: bool = False  # output = warped reference + residual (ignored without the temporal path)

    def __post_init__(self) -> None:
        c128, c64, c32 = self.feat_channels
        t128, t64, t32 = self.translation_channels
        if c64 != 4 * c128 or t64 != 4 * t128 or t32 != 4 * t64:
            raise ValueError("pixel shuffle needs feat_channels[1] = 4*feat_channels[0] and "
                             f"translation_channels = (c, 4c, 16c); got {self.feat_channels}, "
                             f"{self.translation_channels}")
        if self.fusion_kernel not in (1, 3):
            raise ValueError(f"fusion_kernel must be 1 or 3, got {self.fusion_kernel}")
        if self.ref_heatmap_mode not in ("release", "paper"):
            raise ValueError(f"ref_heatmap_mode must be 'release' or 'paper', got {self.ref_heatmap_mode!r}")
        if not 0 <= self.blend_feather <= 64:
            raise ValueError(f"blend_feather must be in [0, 64], got {self.blend_feather}")
        if not (self.use_spatial or self.use_temporal):
            raise ValueError("at least one of use_spatial / use_temporal must be True")
        if self.use_cil and not (self.use_spatial and self.use_temporal):
            raise ValueError("use_cil aligns the spatial and the temporal path: it needs both "
                             "(set use_cil=False for a single-path ablation)")


@dataclass
class InferenceConfig:
    """How dubbing turns the renderer's output into video frames (the model itself is unchanged by these).

    The release (paper preset): the output is truncated to uint8 (``astype(uint8)``) and pasted back through the
    face contour, blurred (Gaussian 21x21, sigma 11), so pixels outside the face keep the template's; its contour
    comes from a 68-point detector (jaw 0-16 + brows 26-17), ours from the FaceMesh points at the same places
    (``stsa.data.landmarks.PASTE_CONTOUR``). A template that is not at 25 fps is converted as the release does
    (``ffmpeg -i in -r 25 out.avi``: its frame selection, and the default mpeg4 encoder at ~200 kb/s, a lossy
    intermediate).
    Alternatives: ``quantise="round"`` (unbiased), ``paste="box"`` (the whole crop box through a feathered box
    mask), ``resample="filter"`` (ffmpeg's fps filter, near-lossless H.264: the preprocessing's conversion).
    """

    quantise: Literal["truncate", "round"] = "truncate"
    paste: Literal["contour", "box"] = "contour"
    resample: Literal["release", "filter"] = "release"

    def __post_init__(self) -> None:
        if self.resample not in ("release", "filter"):
            raise ValueError(f"resample must be 'release' or 'filter', got {self.resample!r}")
        if self.quantise not in ("truncate", "round"):
            raise ValueError(f"quantise must be 'truncate' or 'round', got {self.quantise!r}")
        if self.paste not in ("contour", "box"):
            raise ValueError(f"paste must be 'contour' or 'box', got {self.paste!r}")


@dataclass
class STSAConfig:
    """Both stages plus the audio front end and the training switches of the Table III ablations."""

    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    renderer: RendererConfig = field(default_factory=RendererConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    T: int = 5
    n_ref: int = 5
    audio: AudioFrontEnd = "wav2vec"
    image_size: int = 128
    # training-time switches (read by stsa.train)
    use_sync_loss: bool = True
    finetune_end_to_end: bool = True

    def __post_init__(self) -> None:
        if self.audio not in AUDIO_SHAPES:
            raise ValueError(f"audio front end must be one of {sorted(AUDIO_SHAPES)}, got {self.audio!r}")
        if self.image_size != 128:
            raise ValueError("STSA works on 128x128 crops (image_size=128)")
        # the stage configs follow the top-level T / n_ref
        if self.guidance.T != self.T or self.guidance.n_ref != self.n_ref:
            self.guidance = replace(self.guidance, T=self.T, n_ref=self.n_ref)
        if self.renderer.n_ref != self.n_ref:
            self.renderer = replace(self.renderer, n_ref=self.n_ref)

    # ---- ablation switches (live on the renderer, mirrored here for convenience) ----
    @property
    def use_cil(self) -> bool:
        return self.renderer.use_cil

    @property
    def use_spatial(self) -> bool:
        return self.renderer.use_spatial

    @property
    def use_temporal(self) -> bool:
        return self.renderer.use_temporal

    @property
    def audio_dim(self) -> int:
        return AUDIO_SHAPES[self.audio][0]

    @property
    def audio_window(self) -> int:
        return AUDIO_SHAPES[self.audio][1]

    def ablate(self, *, use_cil: bool | None = None, use_spatial: bool | None = None,
               use_temporal: bool | None = None) -> STSAConfig:
        """A copy with some Table III switches changed (CIL is dropped with either path)."""
        r = self.renderer
        sp = r.use_spatial if use_spatial is None else use_spatial
        te = r.use_temporal if use_temporal is None else use_temporal
        cil = (r.use_cil if use_cil is None else use_cil) and sp and te
        return replace(self, renderer=replace(r, use_cil=cil, use_spatial=sp, use_temporal=te))

    @classmethod
    def paper(cls, audio: AudioFrontEnd = "wav2vec") -> STSAConfig:
        """The release's sizes: Heatmap_generator(T=5, d_model=512, nlayers=8, nhead=4, dim_feedforward=1024,
        dropout=0.1) and Face_renderer(); with audio="wav2vec" the state dicts match the released checkpoints."""
        return cls(guidance=GuidanceConfig(), renderer=RendererConfig(), T=5, n_ref=5, audio=audio)

    @classmethod
    def demo(cls, audio: AudioFrontEnd = "mel") -> STSAConfig:
        """CPU-sized: d_model 64, 2 layers, renderer channels / 8 (3.3 GFLOP per frame forward vs 11.5 at / 4),
        mel front end, paper behaviour for the options, no VGG / unused release modules (the training code builds
        its own loss network), and the two demo deviations `blend_upper_half` and `residual_on_warp` (module
        docstring): without them the renderer does not learn a usable face within the demo's CPU minutes."""
        guidance = GuidanceConfig(d_model=64, nlayers=2, nhead=4, dim_feedforward=128, dropout=0.1,
                                  enc_channels=(8, 16, 32, 48), audio_channels=(32, 64),
                                  message_passing="paper")
        renderer = RendererConfig(feat_channels=(4, 16, 32), ref_mid_channels=8, heatmap_channels=8,
                                  align_channels=16, audio_channels=32, spade_hidden=16, adain_hidden=16,
                                  translation_channels=(4, 16, 64), source_channels=(8, 16, 32),
                                  keep_source_encoder=False, cil_dim=16, mine_hidden=16, fusion_kernel=1,
                                  ref_heatmap_mode="paper", keep_perceptual=False, blend_upper_half=True,
                                  residual_on_warp=True)
        return cls(guidance=guidance, renderer=renderer, T=5, n_ref=5, audio=audio)
