"""Pretrained weights: one manifest (``weights_manifest.yaml``), lookup, checksum-verified loading, and the
``stsa-bench weights status | fetch [NAME] | import PATH [--name NAME]`` command."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
from functools import cache
from pathlib import Path
from typing import Any

from stsa.errors import WeightsError

MANIFEST = Path(__file__).with_name("weights_manifest.yaml")


def manifest_path() -> Path:
    """The manifest in use: ``$STSA_BENCH_WEIGHTS_MANIFEST`` (tests and benchmarks point it at a copy listing
    their random-weight files' hashes) or the packaged ``weights_manifest.yaml``."""
    return Path(os.environ.get("STSA_BENCH_WEIGHTS_MANIFEST", MANIFEST))


@cache
def _read_manifest(path: Path, mtime: float) -> dict[str, dict[str, Any]]:
    import yaml

    return yaml.safe_load(path.read_text())["weights"]


def manifest() -> dict[str, dict[str, Any]]:
    """name -> entry (file or dir, url, page, sha256, sha256_prefix, approx_mb, used_by)."""
    path = manifest_path()
    return _read_manifest(path, path.stat().st_mtime)


def _entry(name: str) -> dict[str, Any]:
    entries = manifest()
    if name not in entries:
        raise WeightsError(manifest_path(), f"unknown weights name {name!r}", f"use one of {', '.join(entries)}")
    return entries[name]


def weights_dir() -> Path:
    """``$STSA_BENCH_WEIGHTS`` or ``~/.cache/stsa-bench/weights``."""
    return Path(os.environ.get("STSA_BENCH_WEIGHTS", Path.home() / ".cache" / "stsa-bench" / "weights")).expanduser()


def torch_hub_checkpoints() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (TORCH_HOME defaults to ``~/.cache/torch``)."""
    home = os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "torch"
    return Path(home).expanduser() / "hub" / "checkpoints"


def _filename(entry: dict[str, Any]) -> str:
    return entry.get("file") or entry["dir"]


def _where_to_get(name: str, entry: dict[str, Any]) -> str:
    how = f"`stsa-bench weights fetch {name}`" if entry.get("url") else f"download it from {entry.get('page')}"
    return (f"{how}, or put {_filename(entry)} into {weights_dir()} (or `stsa-bench weights import PATH "
            f"--name {name}`)")


def candidates(name: str) -> list[Path]:
    """Where ``name`` is looked for, in order."""
    fname = _filename(_entry(name))
    return [weights_dir() / fname, torch_hub_checkpoints() / fname]


def resolve(name: str) -> Path:
    """Path of the weights file (or directory) ``name``; WeightsError naming where to get it when missing."""
    entry = _entry(name)
    for path in candidates(name):
        if entry.get("dir"):
            if path.is_dir() and all((path / f).is_file() for f in entry.get("files", [])):
                return path
        elif path.is_file():
            return path
    raise WeightsError(candidates(name)[0], f"pretrained weights '{name}' not found "
                       f"(looked in {', '.join(str(p.parent) for p in candidates(name))})",
                       _where_to_get(name, entry))


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@cache
def _verified(path: str, size: int, mtime: float, expected: str | None, prefix: str | None) -> str:
    """sha256 of a file, checked against the manifest (cached per path/size/mtime)."""
    digest = sha256_file(Path(path))
    if expected and digest != expected.lower():
        raise WeightsError(path, f"checksum mismatch: sha256 {digest} != expected {expected}",
                           "the file is corrupt or a different release; delete it and download it again")
    if not expected and prefix and not digest.startswith(prefix.lower()):
        raise WeightsError(path, f"checksum mismatch: sha256 {digest[:16]}... does not start with {prefix}",
                           "the file is corrupt or a different release; delete it and download it again")
    return digest


def verify(name: str, path: Path) -> str | None:
    """Check ``path`` against ``name``'s known hash (full or prefix); returns the sha256 (None for dirs)."""
    entry = _entry(name)
    path = Path(path)
    if path.is_dir():
        return None
    st = path.stat()
    return _verified(str(path.resolve()), st.st_size, st.st_mtime, entry.get("sha256"), entry.get("sha256_prefix"))


def load_state_dict(name: str, path: Path | None = None) -> dict:
    """Verified ``torch.load(weights_only=True, map_location="cpu")`` of ``name`` (or an explicit ``path``
    checked against ``name``'s hash); unwraps a ``state_dict`` key and strips a ``module.`` prefix."""
    import torch

    path = resolve(name) if path is None else Path(path)
    if path.is_dir():
        raise WeightsError(path, f"'{name}' is a directory of files, not a state dict",
                           "load it with its library (e.g. transformers from_pretrained(path))")
    if not path.is_file():
        raise WeightsError(path, f"pretrained weights '{name}' not found", _where_to_get(name, _entry(name)))
    verify(name, path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle/zip errors -> a clear message
        raise WeightsError(path, f"cannot load '{name}' ({type(exc).__name__}: {exc})",
                           "the file is corrupt or not a PyTorch checkpoint; download it again") from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(path, f"'{name}' holds a {type(obj).__name__}, not a state dict",
                           "pass the checkpoint file that holds the state dict")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def status(verify_hashes: bool = False) -> list[dict[str, Any]]:
    """One dict per manifest entry: name, file, present, path, sha256_known, verified/error, used_by."""
    rows = []
    for name, entry in manifest().items():
        row: dict[str, Any] = {"name": name, "file": _filename(entry), "present": False, "path": None,
                               "sha256_known": bool(entry.get("sha256")),
                               "prefix_known": bool(entry.get("sha256_prefix")),
                               "used_by": ", ".join(entry.get("used_by", []))}
        try:
            path = resolve(name)
            row.update(present=True, path=str(path))
            if verify_hashes:
                row["sha256"] = verify(name, path)
                row["verified"] = bool(entry.get("sha256") or entry.get("sha256_prefix"))
        except WeightsError as exc:
            if row["present"]:
                row["error"] = str(exc)
        rows.append(row)
    return rows


def fetch(name: str, timeout: float = 60.0) -> Path:
    """Download ``name`` into the weights dir with urllib (verified); WeightsError when offline or no URL."""
    import urllib.error
    import urllib.request

    entry = _entry(name)
    if not entry.get("url"):
        raise WeightsError(weights_dir() / _filename(entry), f"'{name}' has no direct download URL",
                           _where_to_get(name, entry))
    dest = weights_dir() / _filename(entry)
    files = [(entry["url"] + f, dest / f) for f in entry["files"]] if entry.get("dir") else [(entry["url"], dest)]
    for url, target in files:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out, 1 << 22)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            tmp.unlink(missing_ok=True)
            raise WeightsError(target, f"download of '{name}' from {url} failed ({exc})",
                               f"check the network, or download it elsewhere and run "
                               f"`stsa-bench weights import PATH --name {name}`") from exc
        if not entry.get("dir"):
            try:
                verify(name, tmp)
            except WeightsError:
                tmp.unlink(missing_ok=True)
                raise
        tmp.replace(target)
    return dest


def import_file(path: Path, name: str | None = None) -> Path:
    """Verify ``path`` (a file or directory) against the manifest, then copy it into the weights dir."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(path, "file not found", "check the path")
    if name is None:
        matches = [n for n, e in manifest().items() if _filename(e) == path.name]
        if not matches:
            raise WeightsError(path, "cannot tell which weights this is from its name",
                               f"pass --name (one of {', '.join(manifest())})")
        name = matches[0]
    entry = _entry(name)
    if entry.get("dir"):
        missing = [f for f in entry.get("files", []) if not (path / f).is_file()]
        if missing:
            raise WeightsError(path, f"'{name}' needs the files {missing}", f"download them from {entry['page']}")
    else:
        verify(name, path)
    dest = weights_dir() / _filename(entry)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        shutil.copytree(path, dest, dirs_exist_ok=True)
    else:
        shutil.copyfile(path, dest)
    return dest


def _cmd_status(args: argparse.Namespace) -> int:
    print(f"weights dir: {weights_dir()}  (also searched: {torch_hub_checkpoints()})")
    for row in status(args.verify):
        mark = "ok " if row["present"] and "error" not in row else ("BAD" if "error" in row else "-- ")
        check = "sha256" if row["sha256_known"] else ("prefix" if row["prefix_known"] else "unverified")
        line = f"{mark} {row['name']:<20} {row['file']:<40} [{check}] {row['used_by']}"
        if row.get("path"):
            line += f"\n      {row['path']}"
        if row.get("sha256"):
            line += f"\n      sha256 {row['sha256']}"
        if row.get("error"):
            line += f"\n      {row['error']}"
        print(line)
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    names = [args.name] if args.name else [n for n, e in manifest().items() if e.get("url")]
    failed = 0
    for name in names:
        try:
            print(f"{name}: {fetch(name)}")
        except WeightsError as exc:
            failed += 1
            print(f"{name}: error: {exc}")
    return 2 if failed else 0


def _cmd_import(args: argparse.Namespace) -> int:
    print(import_file(Path(args.path), args.name))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("weights", help="pretrained weights: status, fetch, import",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="weights_command", required=True, metavar="ACTION")
    s = sub.add_parser("status", help="which weights are present (and verified)")
    s.add_argument("--verify", action="store_true", help="hash every present file")
    s.set_defaults(func=_cmd_status)
    f = sub.add_parser("fetch", help="download weights that have a direct URL")
    f.add_argument("name", nargs="?", default=None, help="one name (default: all with a URL)")
    f.set_defaults(func=_cmd_fetch)
    i = sub.add_parser("import", help="verify a downloaded file and copy it into the weights dir")
    i.add_argument("path")
    i.add_argument("--name", default=None, help="manifest name (default: from the file name)")
    i.set_defaults(func=_cmd_import)
