"""Adapter names -> classes."""

from __future__ import annotations

from baselines.base import Adapter
from baselines.official.external import adapter_class
from baselines.official.methods import OFFICIAL_METHODS
from baselines.precomputed import PrecomputedAdapter
from baselines.stsa_adapter import STSAAdapter
from baselines.trivial import GTAdapter, ReferenceCopyAdapter
from baselines.wav2lip.adapter import Wav2LipAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    "gt": GTAdapter,
    "reference-copy": ReferenceCopyAdapter,
    "wav2lip": Wav2LipAdapter,
    **{name: adapter_class(spec) for name, spec in OFFICIAL_METHODS.items()},
    "precomputed": PrecomputedAdapter,
    "stsa": STSAAdapter,
}


def get_adapter(name: str, options: dict | None = None) -> Adapter:
    """An adapter by registry name; an unknown name raises StsaBenchError listing the known ones."""
    from stsa.errors import StsaBenchError

    if name not in ADAPTERS:
        raise StsaBenchError(None, f"unknown method {name!r}", f"use one of: {', '.join(ADAPTERS)}")
    return ADAPTERS[name](dict(options or {}))
