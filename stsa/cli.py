"""The ``stsa-bench`` command. Each subcommand lives in its own module, which provides ``register(subparsers)``.

Modules are imported when the command line is parsed; keep heavy imports (torch, mediapipe) inside functions.
A module that fails to import stops the command with an error naming it (never a silently missing subcommand).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand module -> provides register(subparsers) that adds one or more subcommands with set_defaults(func=...)
SUBCOMMAND_MODULES = (
    "stsa.data.synth",
    "stsa.data.preprocess",
    "metrics.evaluator",
    "stsa.weights",
    "stsa.train.cli",
    "stsa.dub",
    "baselines.cli",
    "stsa.tables",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stsa-bench", description="Benchmark for audio-driven visual dubbing: the STSA paper's tables."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            raise ImportError(f"stsa-bench: the subcommand module {name} failed to import ({type(exc).__name__}: "
                              f"{exc}); reinstall with `pip install -e .` or fix the module") from exc
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from stsa.errors import StsaBenchError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StsaBenchError as exc:
        print(f"stsa-bench {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
