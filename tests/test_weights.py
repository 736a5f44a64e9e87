"""stsa.weights: lookup, checksum-verified loading, fetch/import, CLI — on files the test writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
import yaml

from stsa import weights
from stsa.errors import WeightsError


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _override(tmp_path, monkeypatch, **hashes) -> None:
    """A manifest copy whose entries get the given sha256 (None clears hash and prefix)."""
    data = yaml.safe_load(weights.MANIFEST.read_text())
    for name, digest in hashes.items():
        data["weights"][name]["sha256"] = digest
        if digest is None:
            data["weights"][name]["sha256_prefix"] = None
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("STSA_BENCH_WEIGHTS_MANIFEST", str(path))


def test_manifest_lists_every_name():
    names = {"pt_inception", "alexnet", "vgg16", "vgg19", "raft_large", "syncnet_v2", "sfd_face",
             "wav2vec2_base_960h", "stsa_heatmap", "stsa_face", "wav2lip", "wav2lip_gan", "lipsync_expert"}
    m = weights.manifest()
    assert set(m) == names
    for name, e in m.items():
        assert (e.get("file") or e.get("dir")) and e.get("used_by") and (e.get("url") or e.get("page")), name
        prefix = e.get("sha256_prefix")
        if prefix:  # torch.hub-style names embed the prefix
            assert f"-{prefix}." in e["file"], name


def test_missing_raises_with_where_to_get(wdir):
    with pytest.raises(WeightsError, match="not found") as err:
        weights.resolve("syncnet_v2")
    assert "stsa-bench weights fetch syncnet_v2" in str(err.value) and str(wdir) in str(err.value)
    with pytest.raises(WeightsError, match="README"):
        weights.resolve("wav2lip")
    with pytest.raises(WeightsError, match="unknown weights name"):
        weights.resolve("nope")


def test_load_verified_unwraps_and_strips(wdir, tmp_path, monkeypatch):
    path = wdir / "wav2lip.pth"
    torch.save({"state_dict": {"module.a.weight": torch.ones(2)}, "global_step": 3}, path)
    _override(tmp_path, monkeypatch, wav2lip=_sha(path))
    sd = weights.load_state_dict("wav2lip")
    assert list(sd) == ["a.weight"] and torch.equal(sd["a.weight"], torch.ones(2))


def test_corrupt_file_gives_checksum_error(wdir, tmp_path, monkeypatch):
    path = wdir / "syncnet_v2.model"
    torch.save({"w": torch.zeros(3)}, path)
    _override(tmp_path, monkeypatch, syncnet_v2=_sha(path))
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(WeightsError, match="checksum mismatch"):
        weights.load_state_dict("syncnet_v2")


def test_hash_prefix_checked_and_torch_cache_searched(wdir, tmp_path):
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save({"x": torch.zeros(1)}, hub / "alexnet-owt-7be5be79.pth")  # random content: wrong prefix
    assert weights.resolve("alexnet") == hub / "alexnet-owt-7be5be79.pth"
    with pytest.raises(WeightsError, match="does not start with 7be5be79"):
        weights.load_state_dict("alexnet")


def test_weights_only_refuses_pickled_code(wdir, tmp_path, monkeypatch):
    path = wdir / "sfd_face.pth"
    torch.save({"net": torch.nn.Linear(2, 2)}, path)  # a pickled module, not a state dict
    _override(tmp_path, monkeypatch, sfd_face=None)
    with pytest.raises(WeightsError, match="cannot load"):
        weights.load_state_dict("sfd_face")


def test_fetch_offline_fails_clearly_and_file_url_works(wdir, tmp_path, monkeypatch):
    src = tmp_path / "remote.model"
    torch.save({"w": torch.ones(1)}, src)
    data = yaml.safe_load(weights.MANIFEST.read_text())
    data["weights"]["syncnet_v2"].update(url=src.as_uri(), sha256=_sha(src))
    data["weights"]["sfd_face"].update(url=(tmp_path / "absent.pth").as_uri())
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("STSA_BENCH_WEIGHTS_MANIFEST", str(tmp_path / "m.yaml"))
    assert weights.fetch("syncnet_v2") == wdir / "syncnet_v2.model"
    assert weights.load_state_dict("syncnet_v2")["w"].item() == 1.0
    with pytest.raises(WeightsError, match="download of 'sfd_face'.*failed"):
        weights.fetch("sfd_face")
    assert not (wdir / "sfd_face.pth.part").exists()
    with pytest.raises(WeightsError, match="no direct download URL"):
        weights.fetch("stsa_face")


def test_import_verifies_then_copies(wdir, tmp_path, monkeypatch):
    good = tmp_path / "lipsync_expert.pth"
    torch.save({"x": torch.ones(1)}, good)
    _override(tmp_path, monkeypatch, lipsync_expert=_sha(good))
    assert weights.import_file(good) == wdir / "lipsync_expert.pth"
    bad = tmp_path / "other" / "lipsync_expert.pth"
    bad.parent.mkdir()
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(WeightsError, match="checksum mismatch"):
        weights.import_file(bad)
    with pytest.raises(WeightsError, match="pass --name"):
        weights.import_file(tmp_path / "manifest.yaml")


def test_status_and_cli(wdir, tmp_path, monkeypatch, capsys):
    import argparse

    path = wdir / "syncnet_v2.model"
    torch.save({"w": torch.zeros(1)}, path)
    _override(tmp_path, monkeypatch, syncnet_v2=_sha(path))
    rows = {r["name"]: r for r in weights.status(verify_hashes=True)}
    assert rows["syncnet_v2"]["present"] and rows["syncnet_v2"]["verified"]
    assert not rows["raft_large"]["present"]
    parser = argparse.ArgumentParser()
    weights.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["weights", "status", "--verify"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "syncnet_v2" in out and _sha(path) in out
