"""STSA paper components, one per file; `stsa.model` assembles them. Release (SCAILab-USTC/STSA) names:

| file | component | release class / attribute |
|---|---|---|
| conv_blocks.py | conv-BN-act blocks | Conv1d, Conv2d, ConvT2d, SameBlock2d, DownBlock2d, ResBlock2d |
| audio_encoder.py | audio encoders (wav2vec 768x10 or mel 80x16 windows) | `mel_encoder`, audio_encoer_w2v |
| positional.py | sinusoidal positions | PositionalEmbedding |
| guidance_transformer.py | [ref / audio / pose] token transformer | Fusion_transformer_encoder |
| heatmap_decoder.py | coupled lip / jaw decoder, message passing | Heatmap_decoder |
| keypoint_extractor.py | heatmap encoders, 40 lip + 17 jaw points | `*_encoder`, `*_keypoint_map` |
| adaat.py, spatial_path.py | spatial path (AdaAT, 3 scales) | AdaAT, ref_imgs_encoder, SpatialNetwork |
| adain.py, spade.py, temporal_path.py | temporal path (flow + weight per reference) | AdaIN, SPADE, TemporalNetwork |
| cil.py | CIL: pooled embeddings + MINE / DV bound | ChannelAlign, MINE |
| fusion.py | dual-path fusion | `fuse_32/64/128` |
| generator.py | face generator | TranslationNetwork |
| perceptual.py | VGG19 perceptual + Gram loss network | PerceptualLoss (`perceptual.`) |
| discriminator.py | multi-scale patch discriminator (training only, not released) | - |
| sync_expert.py | SyncNet sync-loss expert (separate owner) | - |
"""
