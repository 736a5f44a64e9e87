"""LRS2 and CMLR readers on layouts written here, and on the real LRS2 test list."""

from __future__ import annotations

from pathlib import Path

import pytest

from stsa.data.datasets import Clip, CMLRReader, LRS2Reader, open_dataset
from stsa.errors import DatasetError


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_lrs2_layout(tmp_path: Path) -> None:
    main = tmp_path / "mvlrs_v1" / "main"
    _touch(main / "6330311066473698535" / "00011.mp4")
    _touch(main / "6330311066473698535" / "00018.mp4")
    (tmp_path / "test.txt").write_text("6330311066473698535/00011 NF\n6330311066473698535/00018 MV\n\n"
                                       "5535415699068794046/00001\n")
    (tmp_path / "train.txt").write_text("6330311066473698535/00018\n")
    reader = open_dataset("LRS2", tmp_path)
    clips = reader.clips("test")
    assert [c.clip_id for c in clips] == ["6330311066473698535/00011", "6330311066473698535/00018",
                                          "5535415699068794046/00001"]
    assert clips[0] == Clip("6330311066473698535/00011", main / "6330311066473698535/00011.mp4", None, "test")
    assert not clips[2].video.exists()  # listed but absent: returned, rejected later by preprocessing
    assert [c.clip_id for c in reader.clips("test", limit=1)] == ["6330311066473698535/00011"]
    assert reader.clips("train")[0].split == "train"


def test_lrs2_real_test_list(shared_dir: Path) -> None:
    lists = shared_dir / "reference" / "lrs2_filelists"
    clips = LRS2Reader(lists).clips("test")
    assert len(clips) == 1243
    assert clips[0].clip_id == "6330311066473698535/00011"
    assert all(c.video.suffix == ".mp4" and c.audio is None and " " not in c.clip_id for c in clips)
    assert len({c.clip_id for c in clips}) == 1243


def test_missing_root_and_split_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"datasets\.lrs2\.root"):
        open_dataset("lrs2", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"datasets\.cmlr\.root"):
        open_dataset("cmlr", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"no lrs2 dataset root given.*datasets\.lrs2\.root"):
        open_dataset("lrs2", None)
    (tmp_path / "train.txt").write_text("a/00001\n")
    with pytest.raises(DatasetError, match=r"val\.txt") as err:
        open_dataset("lrs2", tmp_path).clips("val")
    assert "train.txt" in str(err.value)  # names the splits that exist
    with pytest.raises(DatasetError, match="unknown dataset"):
        open_dataset("voxceleb", tmp_path)
    with pytest.raises(DatasetError, match="unknown layout keys"):
        open_dataset("lrs2", tmp_path, audio_dir="x")


def test_cmlr_default_layout_header_and_extra_columns(tmp_path: Path) -> None:
    ids = ["s1/20170121/section_1_000.80_002.91", "s11/20180101/section_2_003.10_005.00"]
    for i in ids:
        _touch(tmp_path / "video" / f"{i}.mp4")
        _touch(tmp_path / "audio" / f"{i}.wav")
    (tmp_path / "test.csv").write_text(f"name,text\n{ids[0]},ni hao\n{ids[1]}.mp4,zai jian\n")
    (tmp_path / "val.csv").write_text(f"{ids[1]}\n")
    clips = open_dataset("cmlr", tmp_path).clips("test")
    assert [c.clip_id for c in clips] == ids
    assert clips[0].video == tmp_path / "video" / f"{ids[0]}.mp4"
    assert clips[0].audio == tmp_path / "audio" / f"{ids[0]}.wav"
    assert all(c.video.is_file() and c.audio.is_file() for c in clips)
    assert [c.clip_id for c in open_dataset("cmlr", tmp_path).clips("val")] == [ids[1]]


def test_cmlr_custom_layout(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "test_list.txt").write_text("s2/20170301/section_3_001.00_002.00\n")
    reader = open_dataset("cmlr", tmp_path, video_dir="clips", audio_dir="wavs", video_ext=".avi",
                          audio_ext=".flac", split_pattern="lists/{split}_list.txt")
    assert isinstance(reader, CMLRReader)
    (clip,) = reader.clips("test")
    assert clip.video == tmp_path / "clips" / "s2/20170301/section_3_001.00_002.00.avi"
    assert clip.audio == tmp_path / "wavs" / "s2/20170301/section_3_001.00_002.00.flac"
    (embedded,) = open_dataset("cmlr", tmp_path, audio_dir=None, split_pattern="lists/{split}_list.txt").clips(
        "test")
    assert embedded.audio is None
