"""STSA training: stage 1 (guidance), stage 2 (synthesis), end-to-end fine-tuning (`stsa-bench train`)."""
