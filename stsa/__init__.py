"""stsa-bench: the STSA model, data pipeline and command line of the benchmark."""

__version__ = "0.1.0"
