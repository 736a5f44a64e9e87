"""Streamed training data: memory-mapped clip.npz reads, windows equal to the whole-clip computation they replace,
step-seeded batches independent of resume point, worker count and process count, the data hash, periodic
checkpoints and loss-log truncation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from baselines_fixtures import make_clip, make_root
from stsa_tiny import make_corpus

from stsa.data.clip import ClipData, npz_members
from stsa.train.data import StepBatches, TrainingData, collate, make_loader
from stsa.train.distributed import World


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("pre"), n_clips=3, n_frames=14)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


# ------------------------------------------------------------------------------------------ clip.npz
def test_memory_mapped_load_equals_load_and_reads_compressed_files(corpus, tmp_path):
    clip_dir = corpus / "spk0" / "00001"
    full, mapped = ClipData.load(clip_dir), ClipData.load(clip_dir, mmap=True)
    for name in ("crops", "boxes", "landmarks", "detected", "mel", "points", "frame_size"):
        assert isinstance(getattr(mapped, name), np.memmap), name
        np.testing.assert_array_equal(getattr(mapped, name), getattr(full, name))
    np.testing.assert_array_equal(mapped.openness, full.openness)
    members = npz_members(clip_dir / "clip.npz")
    assert members["crops"].shape == (14, 128, 128, 3) and members["crops"].offset is not None

    other = tmp_path / "zipped"
    other.mkdir()
    (other / "status.json").write_text('{"status": "ok"}')
    np.savez_compressed(other / "clip.npz", **{k: getattr(full, k) for k in ("crops", "boxes", "landmarks",
                                                                             "detected", "mel")})
    assert npz_members(other / "clip.npz")["crops"].offset is None  # deflated: cannot be mapped
    z = ClipData.load(other, mmap=True)
    assert not isinstance(z.crops, np.memmap)
    np.testing.assert_array_equal(z.crops, full.crops)


def test_unreadable_and_short_clips_are_rejected_with_the_reason(tmp_path):
    root = make_corpus(tmp_path / "pre", n_clips=3, n_frames=12)
    (root / "spk1" / "00001" / "clip.npz").write_bytes(b"not a zip")
    short = root / "spk2" / "00001"
    clip = ClipData.load(short)
    ClipData(clip.crops[:3], clip.boxes[:3], clip.landmarks[:3], clip.detected[:3], clip.mel, points=clip.points[:3],
             frame_size=clip.frame_size).save(short)
    data = TrainingData(root, "mel", split=None)
    assert data.clip_ids == ["spk0/00001"]
    reasons = dict(data.rejected)
    assert "clip.npz" in reasons["spk1/00001"] and "unreadable" in reasons["spk1/00001"]
    assert "3 frames" in reasons["spk2/00001"]
    with pytest.raises(Exception, match="wav2vec"):
        TrainingData(root, "wav2vec", split=None)  # no clip has wav2vec features


def test_data_hash_follows_the_arrays_not_the_file_times(tmp_path):
    root = make_corpus(tmp_path / "pre", n_clips=2, n_frames=10)
    before = TrainingData(root, "mel", split=None).hash
    clip_dir = root / "spk0" / "00001"
    ClipData.load(clip_dir).save(clip_dir)  # rewritten with the same arrays
    assert TrainingData(root, "mel", split=None).hash == before
    clip = ClipData.load(clip_dir)
    clip.crops[0, 0, 0, 0] ^= 1
    clip.save(clip_dir)
    assert TrainingData(root, "mel", split=None).hash != before


# ------------------------------------------------------------------------------------------ windows
def whole_clip_window(clip: ClipData, start: int, t: int, n_ref: int) -> dict[str, np.ndarray]:
    """Fixture: the in-memory loader this replaces (ClipSamples.from_clip + TrainingData.batch before streaming):
    every frame's heatmaps and audio windows computed once per clip, then the window sliced out."""
    from stsa.data.audio import mel_windows
    from stsa.data.heatmaps import render_heatmaps
    from stsa.data.landmarks import CONTENT, select_references

    lm = np.asarray(clip.landmarks, np.float32)
    face, pose = render_heatmaps(lm, "face"), render_heatmaps(lm, "pose")
    mel = mel_windows(clip.mel, clip.n_frames)
    crops = np.ascontiguousarray(clip.crops[..., ::-1]).transpose(0, 3, 1, 2)
    refs = select_references(clip.openness, n_ref)
    sl = slice(start, start + t)
    return {"audio": mel[sl], "sync_mel": mel[start][None], "pose_hm": pose[sl][:, None], "face_hm": face[sl][:, None],
            "ref_hm": face[refs][:, None], "content": lm[sl][:, list(CONTENT)].transpose(0, 2, 1),
            "faces": crops[sl], "ref_faces": crops[refs]}


def test_streamed_windows_equal_the_whole_clip_computation(corpus):
    data = TrainingData(corpus, "mel", split=None, n_ref=3)
    for c, s in [(0, 0), (1, 4), (2, 9)]:  # 9 = the last window start of 14 frames
        item = data[(c, s)]
        ref = whole_clip_window(ClipData.load(corpus / data.clip_ids[c]), s, 5, 3)
        assert set(item) == set(ref)
        for k, v in ref.items():
            assert item[k].dtype == (np.uint8 if k in ("faces", "ref_faces") else np.float32), k
            np.testing.assert_array_equal(item[k], v, err_msg=k)


def test_steps_see_the_same_batch_resumed_or_not_whatever_the_workers_and_processes(corpus):
    data = TrainingData(corpus, "mel", split=None)
    straight = StepBatches(data.draw, 4, seed=3, start=0, stop=6)
    resumed = StepBatches(data.draw, 4, seed=3, start=4, stop=6)
    assert list(resumed) == list(straight)[4:]
    halves = [StepBatches(data.draw, 4, 3, 0, 6, World(rank, 2)) for rank in (0, 1)]
    assert [a + b for a, b in zip(*halves, strict=True)] == list(straight)
    with pytest.raises(ValueError, match="divisible"):
        StepBatches(data.draw, 3, 0, 0, 1, World(0, 2))

    def batches(workers):
        return list(make_loader(data, StepBatches(data.draw, 2, 3, 1, 4), workers, torch.device("cpu")))

    inline, parallel = batches(0), batches(2)
    assert len(inline) == 3
    for a, b in zip(inline, parallel, strict=True):
        assert a["faces"].dtype == torch.uint8
        for k in a:
            assert torch.equal(a[k], b[k]), k
    expected = collate([data[p] for p in straight.picks(1)[:2]])
    assert all(torch.equal(expected[k], inline[0][k]) for k in expected)


class InMemoryWav2LipData:
    """Fixture: the previous baselines.wav2lip.data.Wav2LipData, every clip's 96x96 faces and mel windows loaded up
    front; its expert_batch / generator_batch are the reference of the streamed items."""

    def __init__(self, clip_dirs, mel_shift=-2):
        from baselines.wav2lip.data import faces_96
        from stsa.data.audio import mel_windows

        self.clips = []
        for d in clip_dirs:
            with np.load(d / "clip.npz") as z:
                crops, mel = z["crops"], z["mel"]
            if len(crops) >= 15:
                self.clips.append((faces_96(crops), mel_windows(mel, len(crops))))
        self.mel_shift = mel_shift

    def expert_batch(self, rng, batch):
        from baselines.wav2lip.data import to_tensor_images

        faces, mels, labels = [], [], []
        for b in range(batch):
            f96, mel_win = self.clips[rng.integers(len(self.clips))]
            n = len(f96)
            s = int(rng.integers(0, n - 5 + 1))
            y = b % 2 == 0
            v = s
            if not y:
                far = [t for t in range(n - 5 + 1) if abs(t - s) >= 5]
                v = int(far[rng.integers(len(far))])
            faces.append(f96[v:v + 5])
            mels.append(mel_win[s])
            labels.append(float(y))
        f = to_tensor_images(np.stack(faces)).permute(0, 2, 1, 3, 4)
        return f, torch.from_numpy(np.stack(mels))[:, None], torch.tensor(labels)

    def generator_batch(self, rng, batch):
        from baselines.wav2lip.data import to_tensor_images

        gts, refs, mels, sync_mels = [], [], [], []
        for _ in range(batch):
            f96, mel_win = self.clips[rng.integers(len(self.clips))]
            n = len(f96)
            s = int(rng.integers(0, n - 5 + 1))
            r = int(rng.integers(0, n - 5 + 1))
            while r == s:
                r = int(rng.integers(0, n - 5 + 1))
            gts.append(f96[s:s + 5])
            refs.append(f96[r:r + 5])
            mels.append(mel_win[np.clip(np.arange(s, s + 5) + self.mel_shift, 0, len(mel_win) - 1)])
            sync_mels.append(mel_win[s])
        gt = to_tensor_images(np.stack(gts)).permute(0, 2, 1, 3, 4)
        ref = to_tensor_images(np.stack(refs)).permute(0, 2, 1, 3, 4)
        return gt, ref, torch.from_numpy(np.stack(mels))[:, :, None], torch.from_numpy(np.stack(sync_mels))[:, None]


def test_wav2lip_streamed_batches_equal_the_in_memory_loader(tmp_path):
    from baselines.wav2lip.data import Wav2LipData, expert_batch, generator_batch, list_clip_dirs

    root = make_root(tmp_path / "w2l", ["a/00001", "b/00002", "c/00003"], n_frames=16)
    short = make_clip(root / "d" / "00004", n_frames=12)  # < 15 frames: skipped, as before
    dirs = [*list_clip_dirs(root), short]
    data, reference = Wav2LipData(dirs), InMemoryWav2LipData(dirs)
    assert len(data) == len(reference.clips) == 3 and data.rejected[0][0] == "d/00004"
    for draw, to_batch, ref_batch in ((data.expert_picks, expert_batch, reference.expert_batch),
                                      (data.generator_picks, generator_batch, reference.generator_batch)):
        loader = make_loader(data, StepBatches(draw, 4, 0, 0, 3), 0, torch.device("cpu"))
        for step, batch in enumerate(loader):
            ours = to_batch(batch, "cpu")
            theirs = ref_batch(np.random.default_rng([0, step]), 4)
            for a, b in zip(ours, theirs, strict=True):
                assert a.shape == b.shape and torch.equal(a, b.to(a.dtype))


# ------------------------------------------------------------------------------------------ checkpoints
def test_periodic_checkpoints_keep_the_last_and_resume_only_their_run(tmp_path):
    from stsa.train.checkpoint import PeriodicCheckpoints, load_checkpoint, save_checkpoint

    store = PeriodicCheckpoints(tmp_path / "ck", keep=2)
    assert store.resume("a") is None
    for step in (1, 2, 3):
        store.save(step, {"run_key": "a", "step": step})
    assert [s for s, _ in store.files()] == [3, 2]
    assert store.resume("a")["step"] == 3 and not store.removed
    save_checkpoint(tmp_path / "ck" / "step-7.pt", {"run_key": "b", "step": 7})  # another run's, newer
    (tmp_path / "ck" / "step-9.pt").write_bytes(b"truncated")
    found = store.resume("a", delete=False)
    assert found["step"] == 3 and found["path"].endswith("step-3.pt") and len(store.files()) == 4
    assert store.resume("a")["step"] == 3
    assert sorted(r.split(":")[0] for r in store.removed) == ["step-7.pt", "step-9.pt"]
    assert [s for s, _ in store.files()] == [3, 2]
    store.save(4, {"run_key": "a", "step": 4})
    assert [s for s, _ in store.files()] == [4, 3] and load_checkpoint(store.files()[0][1])["step"] == 4
    assert store.resume("a", max_step=3)["step"] == 3 and len(store.files()) == 2  # a shorter run: not its step 4


def test_truncated_loss_log_keeps_the_rows_up_to_the_resumed_step(tmp_path):
    from stsa.train.checkpoint import truncate_log

    log = tmp_path / "x.csv"
    log.write_text("step,loss\n1,0.5\n2,0.4\n3,0.3\n4,0.2\n")
    truncate_log(log, 2)
    assert log.read_text().splitlines() == ["step,loss", "1,0.5", "2,0.4"]
