"""Native Wav2Lip: generator, training, inference adapter."""
