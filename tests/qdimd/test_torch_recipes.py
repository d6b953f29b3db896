"""qdimd.torch, issue 12 point 7: the docs' training recipe as written, DDP ranks, random augmented mask folders."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from qdimd.masks.augment import AugmentConfig
from qdimd.torch import MaskFolder, RandomMaskDataset

DOCS = Path(__file__).parents[2] / "docs" / "pytorch.md"


def _recipe() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    (recipe,) = [b for b in blocks if "zip(image_loader, mask_loader)" in b]
    return recipe


def test_the_training_recipe_runs_as_written():
    # The recipe used to zip image batches with RandomMaskDataset(len(images)) under 2 workers: each worker
    # batched its own share, so a 4-image batch met a partial mask batch mid-epoch and the product crashed.
    recipe = _recipe()
    assert "num_workers=2" in recipe and "len(images)" not in recipe.split("RandomMaskDataset(")[1].split(")")[0]
    namespace: dict = {}
    exec(compile(recipe, str(DOCS), "exec"), namespace)
    assert torch.isfinite(namespace["loss"]) and namespace["epoch"] == 1
    assert namespace["valid"].shape == namespace["image"].shape[:1] + (1, 64, 64)


def test_a_finite_stream_with_workers_ends_with_a_partial_batch_per_worker():
    # Why the recipe uses an infinite stream: with length 10, batch 4 and 2 workers each worker holds 5 masks.
    masks = RandomMaskDataset(10, size=16, seed=0)
    masks.set_epoch(0)
    sizes = [len(b) for b in DataLoader(masks, batch_size=4, num_workers=2)]
    assert sizes == [4, 4, 1, 1]


def _stream(ds: RandomMaskDataset, workers: int) -> list[int]:
    return sorted(i for w in range(workers) for i in ds.indices(0, w, workers))


@pytest.mark.parametrize("world_size, workers", [(1, 1), (2, 3), (4, 2)])
def test_ranks_split_the_epoch_disjointly(world_size, workers):
    ranks = [RandomMaskDataset(23, size=16, rank=r, world_size=world_size) for r in range(world_size)]
    shares = [_stream(ds, workers) for ds in ranks]
    assert sorted(i for share in shares for i in share) == list(range(23))  # every mask once, over all GPUs
    assert [len(ds) for ds in ranks] == [len(share) for share in shares]
    assert all(_stream(ds, workers) == _stream(ds, 1) for ds in ranks)  # a rank's masks do not depend on workers


def test_rank_defaults_to_torch_distributed_when_initialised(monkeypatch):
    assert (RandomMaskDataset(size=16).rank, RandomMaskDataset(size=16).world_size) == (0, 1)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda: 2)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 4)
    ds = RandomMaskDataset(10, size=16)
    assert (ds.rank, ds.world_size, len(ds)) == (2, 4, 2) and list(ds.indices(0)) == [2, 6]
    first = next(iter(ds))
    other = next(iter(RandomMaskDataset(10, size=16, rank=0, world_size=4)))
    assert not torch.equal(first, other)  # GPUs 0 and 2 train on different masks
    with pytest.raises(ValueError, match="rank < world_size"):
        RandomMaskDataset(size=16, rank=4, world_size=4)


@pytest.fixture
def mask_dir(tmp_path) -> Path:
    for k in range(5):
        hole = np.zeros((40, 40), np.uint8)
        hole[5 + 5 * k:15 + 5 * k, 8:30] = 255
        Image.fromarray(hole).save(tmp_path / f"{k}.png")
    return tmp_path


def test_mask_folder_random_augmented_items_are_a_function_of_seed_and_index(mask_dir):
    folder = MaskFolder(mask_dir, size=32, seed=1, augment=AugmentConfig(), length=40, dtype="bool")
    again = MaskFolder(mask_dir, size=32, seed=1, augment=AugmentConfig(), length=40, dtype="bool")
    items = [folder[i] for i in range(40)]
    assert all(torch.equal(again[i], items[i]) for i in reversed(range(40)))  # any order, any process
    assert all(item.any() for item in items)  # an augmentation that empties a mask is redrawn
    files = [MaskFolder(mask_dir, size=32, dtype="bool")[k] for k in range(5)]
    assert sum(any(torch.equal(item, f) for f in files) for item in items) < 40  # augmented, not the bare files
    bare = MaskFolder(mask_dir, size=32, seed=1, length=40, dtype="bool")
    picked = {next(k for k, f in enumerate(files) if torch.equal(bare[i], f)) for i in range(40)}
    assert picked == set(range(5))  # random files: every one of the set is drawn
    other = MaskFolder(mask_dir, size=32, seed=2, augment=AugmentConfig(), length=40, dtype="bool")
    assert any(not torch.equal(other[i], items[i]) for i in range(40))
    loader = DataLoader(folder, batch_size=8, num_workers=2)
    assert torch.equal(torch.cat(list(loader)), torch.stack(items))  # workers see the same items


def test_mask_folder_options(mask_dir):
    assert len(MaskFolder(mask_dir, size=32)) == 5 and len(MaskFolder(mask_dir, seed=0, length=100)) == 100
    with pytest.raises(ValueError, match="any length with a seed"):
        MaskFolder(mask_dir, size=32, length=6)
    with pytest.raises(TypeError, match="AugmentConfig"):
        MaskFolder(mask_dir, augment="yes")
    with pytest.raises(ValueError, match="seed None or >= 0"):
        MaskFolder(mask_dir, seed=-1)
    with pytest.raises(IndexError):
        MaskFolder(mask_dir, size=32)[5]
