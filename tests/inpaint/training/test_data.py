"""Training data: uint8 items, JPEG draft decoding, the cached header scan, Sim-K neighbours, determinism."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from qdimd.errors import InputError, ProblemLog
from inpaint.images import load_image
from inpaint.nn.vgg import normalize_image
from inpaint.training.batches import model_inputs, normalize_uint8
from inpaint.training.data import (DataConfig, InpaintDataset, StepBatchSampler, training_files, training_masks,
                                   training_neighbours)
from inpaint.training.photos import MAX_DEFAULT_WORKERS, cached_scan, decode_photo, default_workers


def _big_jpeg(photo_dir, path, side=512):
    im = Image.open(sorted(photo_dir.iterdir())[0]).convert("RGB").resize((side, side), Image.BICUBIC)
    im.save(path, quality=95)
    return path


def test_items_are_uint8_and_normalised_on_the_device(photo_dir):
    data = InpaintDataset(training_files(photo_dir, ProblemLog()), DataConfig((64, 64), seed=1))
    item = data[5]
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, 64, 64)
    assert item["hole"].dtype == torch.uint8 and item["hole"].shape == (1, 64, 64) and 0 < item["hole"].sum() < 64 * 64
    image, valid, aux = model_inputs(torch.utils.data.default_collate([item]), torch.device("cpu"))
    photo = decode_photo(data.files[data.photo_index(5)], (64, 64))
    assert torch.allclose(image[0], torch.from_numpy(normalize_image(photo)), atol=1e-5)   # same values as before
    assert torch.equal(valid[0], 1.0 - item["hole"].float()) and aux == ()
    assert normalize_uint8(torch.zeros(1, 3, 2, 2, dtype=torch.uint8)).dtype == torch.float32


def test_jpeg_at_least_twice_the_crop_is_draft_decoded_close_to_the_exact_resize(photo_dir, tmp_path):
    big = _big_jpeg(photo_dir, tmp_path / "big.jpg")
    with Image.open(big) as im:
        im.draft("RGB", (128, 128))
        assert im.size == (128, 128)                       # 1/4 scale DCT decoding for a 128 crop
    fast = decode_photo(big, (128, 128)).astype(float)
    exact = load_image(big, (128, 128)).astype(float)      # full decode + bicubic
    assert fast.shape == exact.shape == (128, 128, 3)
    assert np.abs(fast - exact).mean() < 3.0               # the same picture (mean error in 0..255)
    small = decode_photo(big, (384, 384))                  # less than twice: full decode, one exact resize
    assert np.abs(small.astype(float) - load_image(big, (384, 384))).mean() < 1.5
    wide = decode_photo(sorted(photo_dir.iterdir())[0], (32, 64))   # aspect kept, centre crop
    assert wide.shape == (32, 64, 3)


def test_header_scan_is_cached_in_the_run_folder(copy_photos, tmp_path):
    photos = copy_photos(tmp_path / "photos", 3)
    (photos / "broken.jpg").write_bytes(b"not an image")
    cache = tmp_path / "run" / "scan-images.json"
    problems = ProblemLog()
    files = training_files(photos, problems, cache)
    assert len(files) == 3 and "broken.jpg" in problems.summary()
    assert json.loads(cache.read_text())["files"] == sorted(p.name for p in files)
    (photos / "new.jpg").write_bytes((photos / files[0].name).read_bytes())    # added after the scan
    again = ProblemLog()
    with pytest.warns(UserWarning, match=r"1 added, 0 removed"):   # said, never silent
        assert cached_scan(photos, cache, again) == files and "broken.jpg" in again.summary()   # the run's list
    assert len(cached_scan(photos, None, ProblemLog())) == 4


def test_resume_on_a_changed_photo_folder_says_so(copy_photos, tmp_path):
    """`inpaint train --resume` keeps the run's list of photos (an exact resume); photos added or removed since
    are named in a warning instead of being ignored without a word."""
    photos = copy_photos(tmp_path / "photos", 3)
    cache = tmp_path / "run" / "scan-images.json"
    files = training_files(photos, ProblemLog(), cache)
    files[0].unlink()
    with pytest.warns(UserWarning, match=r"0 added, 1 removed .*" + files[0].name):
        assert cached_scan(photos, cache, ProblemLog()) == files


def test_default_workers_follow_the_affinity_and_the_node_processes(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(40)))
    assert default_workers() == MAX_DEFAULT_WORKERS
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert default_workers() == 5
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})
    assert default_workers() == 1


def test_data_is_a_function_of_seed_and_index(copy_photos, tmp_path):
    photos = copy_photos(tmp_path / "photos", 3)
    files = training_files(photos, ProblemLog())
    a, b = InpaintDataset(files, DataConfig((64, 64), seed=5)), InpaintDataset(files, DataConfig((64, 64), seed=5))
    for s in (0, 7, 3):
        assert torch.equal(a[s]["image"], b[s]["image"]) and torch.equal(a[s]["hole"], b[s]["hole"])
    assert sorted(a.photo_index(s) for s in range(3)) == [0, 1, 2]     # one epoch visits every photo once
    masks = tmp_path / "masks"
    masks.mkdir()
    hole = np.zeros((32, 32), np.uint8)
    hole[:16] = 255
    Image.fromarray(hole).save(masks / "m.png")
    item = InpaintDataset(files, DataConfig((64, 64), masks=str(masks), augment=False))[4]
    assert item["hole"].shape == (1, 64, 64) and item["hole"][0, :32].all() and item["hole"][0, 32:].sum() == 0
    batches = list(StepBatchSampler(2, start_step=1, max_steps=3, rank=1, world_size=2))
    assert batches == [[6, 7], [10, 11]]


def test_unreadable_masks_and_photos_are_skipped(photo_dir, tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    hole = np.zeros((32, 32), np.uint8)
    hole[:16] = 255
    Image.fromarray(hole).save(masks / "a.png")
    noise = (np.random.default_rng(0).random((64, 64)) > 0.5).astype(np.uint8) * 255
    Image.fromarray(noise).save(masks / "b.png")
    (masks / "bad.png").write_bytes(b"not a mask")                             # fails the header scan
    (masks / "b.png").write_bytes((masks / "b.png").read_bytes()[:200])         # header fine, pixels truncated
    problems = ProblemLog()
    mask_files = training_masks(masks, problems)
    assert [p.name for p in mask_files] == ["a.png", "b.png"] and "bad.png" in problems.summary()
    photos = tmp_path / "photos"
    photos.mkdir()
    good = sorted(photo_dir.iterdir())[0]
    (photos / "a.jpg").write_bytes(good.read_bytes())
    (photos / "b.jpg").write_bytes(good.read_bytes()[:2000])                   # header fine, pixels truncated
    files = training_files(photos, ProblemLog())
    assert len(files) == 2
    data = InpaintDataset(files, DataConfig((32, 32), masks=str(masks), augment=False), mask_files=mask_files)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [data[s] for s in range(12)]
    assert all(it["hole"][0, :16].all() and not it["hole"][0, 16:].any() for it in items)   # every mask is a.png
    assert all(torch.equal(it["image"], items[0]["image"]) for it in items)                   # every photo is a.jpg
    assert sorted(str(w.message).split(":")[0] for w in caught) == [str(masks / "b.png"), str(photos / "b.jpg")]
    with pytest.raises(InputError, match="no readable mask"):
        training_masks(masks / "bad.png", ProblemLog())


def test_simk_neighbours_leave_out_near_duplicates_and_come_as_uint8(photo_dir):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((5, 8)).astype(np.float32)
    vectors[1] = vectors[0] + 1e-3                                  # a near-duplicate of photo 0
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    topk = np.array([[1, 2, 3], [0, 2, 3], [3, 4, 0], [4, 0, 1], [0, 1, 2]])
    cand = training_neighbours(vectors, topk, [0, 1, 2], 2, 0.97)
    assert cand[0].tolist() == [-1, 2, 3] and cand[1].tolist() == [-1, 2, 3] and cand[2].tolist() == [3, 4, 0]
    assert training_neighbours(vectors, topk, [0], 2, None)[0].tolist() == [1, 2, 3]
    with pytest.raises(InputError, match="--topk"):
        training_neighbours(vectors, topk, [0], 3, 0.97)
    files = sorted(photo_dir.iterdir())[:5]
    data = InpaintDataset(files[:3], DataConfig((32, 32), k=2), cand, [str(f) for f in files])
    item = data[0]
    row = data.photo_index(0)
    assert item["aux"].dtype == torch.uint8 and item["aux"].shape == (2, 3, 32, 32)
    expected = [j for j in cand[row] if j >= 0][:2]
    assert torch.equal(item["aux"][0], torch.from_numpy(np.array(decode_photo(files[expected[0]], (32, 32)))).permute(2, 0, 1))


def test_mask_files_are_sampled_and_augmented_unless_no_augment(photo_dir, tmp_path):
    # Issue 12 point 7 (files12): --masks DIR draws a random file per (seed, s), then the PConv augmentation
    # (qdimd.files.folder.MaskFiles), unless --no-augment; it used to return the bare file.
    from qdimd.files.folder import MaskFiles
    from qdimd.masks.augment import AugmentConfig

    masks = tmp_path / "masks"
    masks.mkdir()
    for k in range(3):
        hole = np.zeros((32, 32), np.uint8)
        hole[8 * k:8 * k + 12, 4:20] = 255
        Image.fromarray(hole).save(masks / f"{k}.png")
    files = training_files(photo_dir, ProblemLog())[:2]
    mask_files = training_masks(masks, ProblemLog())
    plain = InpaintDataset(files, DataConfig((32, 32), masks=str(masks), augment=False, seed=3), mask_files=mask_files)
    augmented = InpaintDataset(files, DataConfig((32, 32), masks=str(masks), seed=3), mask_files=mask_files)
    reference = MaskFiles(mask_files, size=(32, 32), hole_value=255, seed=3, augment=AugmentConfig())
    for s in range(8):
        assert np.array_equal(augmented.hole(s), reference.sample(s)) and augmented.hole(s).any()
    bare = [plain.hole(s) for s in range(8)]
    assert all(any(np.array_equal(b, MaskFiles(mask_files, size=(32, 32), hole_value=255).hole(k)) for k in range(3))
               for b in bare)
    assert any(not np.array_equal(augmented.hole(s), bare[s]) for s in range(8))
