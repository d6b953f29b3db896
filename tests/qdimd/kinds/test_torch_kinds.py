"""qdimd.torch datasets with kind=: the same masks as KindGenerator, in any worker layout."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from qdimd.kinds import KindGenerator
from qdimd.masks.params import MaskConfig
from qdimd.torch import MaskDataset, RandomMaskDataset


def test_map_dataset_items_are_the_kind_generator_masks():
    ds = MaskDataset(6, size=48, seed=2, kind="lama-medium:1,box:1")
    gen = KindGenerator("lama-medium:1,box:1", MaskConfig(size=(48, 48)), seed=2)
    for i in range(6):
        assert torch.equal(ds[i][0].bool(), torch.from_numpy(gen.generate(i)))
    assert torch.equal(MaskDataset(3, size=48, seed=2, kind="qdimd")[1], MaskDataset(3, size=48, seed=2)[1])


def test_targeted_dataset_of_a_kind():
    ds = MaskDataset(4, size=64, seed=0, kind="mat", ratio_range=(0.2, 0.3), border="border")
    for i in range(4):
        ratio = ds[i].mean().item()
        assert 0.2 < ratio <= 0.3


def test_random_dataset_with_workers_matches_single_process():
    ds = RandomMaskDataset(8, size=40, seed=1, kind="deepfill", dtype="uint8")
    ds.set_epoch(0)
    single = torch.cat(list(DataLoader(ds, batch_size=4)))
    multi = torch.cat(list(DataLoader(ds, batch_size=4, num_workers=2)))
    assert single.shape == (8, 1, 40, 40) and set(np.unique(single.numpy()).tolist()) <= {0, 255}
    assert sorted(m.numpy().tobytes() for m in single) == sorted(m.numpy().tobytes() for m in multi)


def test_bad_kind():
    with pytest.raises(ValueError, match="Expected a mask kind"):
        MaskDataset(2, size=32, kind="lama-wide")
