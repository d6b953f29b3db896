"""Tests for qdimd.torch: map-style, iterable (workers, epochs) and folder datasets."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from qdimd import MaskConfig, MaskGenerator
from qdimd.masks.augment import AugmentConfig
from qdimd.buckets import border_distance, bucket_of, group_of, hole_ratio
from qdimd.torch import MaskDataset, MaskFolder, RandomMaskDataset, to_tensor


def _keys(batch: torch.Tensor) -> list[bytes]:
    return [x.numpy().tobytes() for x in batch]


def test_import_qdimd_does_not_import_torch():
    import subprocess

    code = "import qdimd, sys; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_mask_dataset_item_i_is_mask_i():
    ds = MaskDataset(10, size=48, seed=4)
    gen = MaskGenerator(MaskConfig(size=(48, 48)), seed=4)
    for i in (0, 3, 9):
        np.testing.assert_array_equal(ds[i][0].numpy() == 1.0, gen.generate(i))
    assert len(ds) == 10 and ds[-1].shape == (1, 48, 48)
    with pytest.raises(IndexError):
        ds[10]


@pytest.mark.parametrize("dtype, polarity, channels", [("float32", "valid", 1), ("uint8", "hole", 3), ("bool", "valid", 3)])
def test_output_formats(dtype, polarity, channels):
    hole = np.zeros((4, 5), bool)
    hole[1, 2] = True
    out = to_tensor(hole, dtype, polarity, channels)
    assert out.shape == (channels, 4, 5)
    assert out.dtype == {"float32": torch.float32, "uint8": torch.uint8, "bool": torch.bool}[dtype]
    on = {"float32": 1.0, "uint8": 255, "bool": True}[dtype]
    value_at_hole = out[0, 1, 2].item()
    assert value_at_hole == (on if polarity == "hole" else type(on)(0))
    assert torch.equal(out[0], out[-1])


def test_bad_options():
    with pytest.raises(ValueError, match="Expected dtype"):
        MaskDataset(2, dtype="int64")
    with pytest.raises(ValueError, match="Expected polarity"):
        RandomMaskDataset(2, polarity="mask")
    with pytest.raises(ValueError, match="Expected channels"):
        MaskDataset(2, channels=2)
    with pytest.raises(ValueError, match="Expected border"):
        MaskDataset(2, border="edge")


def test_dataloader_two_workers_no_duplicates_and_reproducible():
    ds = RandomMaskDataset(48, size=40, seed=11)
    first = torch.cat(list(DataLoader(ds, batch_size=6, num_workers=2)))
    again = torch.cat(list(DataLoader(ds, batch_size=6, num_workers=2)))
    assert first.shape == (48, 1, 40, 40)
    assert torch.equal(first, again)
    assert len(set(_keys(first))) == 48  # no mask twice across the two workers
    single = torch.cat(list(DataLoader(ds, batch_size=6, num_workers=0)))
    assert set(_keys(single)) == set(_keys(first))  # same masks whatever the worker count
    ds.set_epoch(1)
    next_epoch = torch.cat(list(DataLoader(ds, batch_size=6, num_workers=2)))
    assert not set(_keys(next_epoch)) & set(_keys(first))


def test_epoch_counter_without_workers_and_infinite_stream():
    ds = RandomMaskDataset(4, size=32, seed=0)
    a, b = list(ds), list(ds)
    assert not set(_keys(torch.stack(a))) & set(_keys(torch.stack(b)))
    endless = iter(RandomMaskDataset(size=32, seed=0))
    assert len([next(endless) for _ in range(7)]) == 7
    with pytest.raises(TypeError, match="infinite"):
        len(RandomMaskDataset(size=32))


def test_targeted_and_augmented_items_are_in_their_group():
    ds = MaskDataset(6, size=64, seed=1, ratio_range=(0.3, 0.4), border="noborder", polarity="valid",
                     augment=AugmentConfig(dilate_p=1.0))
    for i in range(len(ds)):
        hole = ds[i][0].numpy() == 0.0
        assert bucket_of(hole_ratio(hole)) == 4 and group_of(border_distance(hole), 6) == "noborder"


def test_mask_folder_any_polarity_and_size(tmp_path):
    white = tmp_path / "white"
    black = tmp_path / "black"
    white.mkdir()
    black.mkdir()
    hole = np.zeros((100, 80), bool)
    hole[20:50, 10:30] = True
    for i in range(3):
        Image.fromarray(np.roll(hole, i * 5, axis=0).astype(np.uint8) * 255).save(white / f"{i}.png")
        inverted = np.where(np.roll(hole, i * 5, axis=1), 0, 255).astype(np.uint8)
        Image.fromarray(inverted).convert("RGB").save(black / f"{i}.png")  # 3 channels, black holes
    (white / "broken.txt").write_text("not a mask suffix, ignored")
    ds = MaskFolder(tmp_path, size=50)
    assert len(ds) == 6 and ds.hole_values == {str(black): 0, str(white): 255}
    batch = torch.stack([ds[i] for i in range(len(ds))])
    assert batch.shape == (6, 1, 50, 50)
    assert torch.all((batch.mean(dim=(1, 2, 3)) - hole.mean()).abs() < 0.02)  # holes stay holes whatever the polarity
    assert set(torch.unique(batch).tolist()) == {0.0, 1.0}
    native = MaskFolder(white, size=None, hole_value=255, dtype="bool")
    assert native[0].shape == (1, 100, 80) and native[0].sum().item() == hole.sum()
    loader = DataLoader(ds, batch_size=3, num_workers=2)
    assert sum(len(b) for b in loader) == 6


def test_mask_folder_empty(tmp_path):
    from qdimd.errors import InputError

    with pytest.raises(InputError, match="no mask files"):
        MaskFolder(tmp_path)


def test_workers_warn_when_set_epoch_is_missing(monkeypatch):
    import types
    import warnings

    import qdimd.torch as qtorch

    worker = types.SimpleNamespace(id=0, num_workers=2)  # what DataLoader worker 0 of 2 sees
    monkeypatch.setattr(qtorch, "get_worker_info", lambda: worker)
    ds = RandomMaskDataset(4, size=32, seed=0)
    with pytest.warns(RuntimeWarning, match="set_epoch\\(epoch\\) was not called"):
        assert len(list(ds)) == 2  # worker 0 of 2: stream positions 0 and 2
    ds.set_epoch(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(ds)) == 2


def test_set_epoch_reaches_persistent_workers():
    """Regression: persistent workers kept their own epoch, so every epoch repeated epoch 0's masks."""
    ds = RandomMaskDataset(8, size=32, seed=3)
    loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)
    epochs = []
    for epoch in range(2):
        ds.set_epoch(epoch)
        epochs.append(torch.cat(list(loader)))
    reference = RandomMaskDataset(8, size=32, seed=3)
    for epoch in range(2):
        reference.set_epoch(epoch)
        expected = torch.stack(list(reference))
        assert sorted(m.numpy().tobytes() for m in epochs[epoch]) == sorted(m.numpy().tobytes() for m in expected)
    assert not torch.equal(epochs[0], epochs[1])
