"""stsa-bench: the STSA model, data pipeline and command line of the benchmark."""

import os

__version__ = "0.1.0"

# Bit-reproducible runs: without a pinned MKL code path, multi-threaded MKL GEMMs (e.g. the sync-loss backward
# through the SyncNet expert in fine-tuning) give different low bits from one process to the next. MKL reads this
# at its first call, so it takes effect whenever stsa is imported before torch does any GEMM. Override by setting it.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
