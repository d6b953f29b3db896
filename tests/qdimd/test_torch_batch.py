"""qdimd.torch at the generator's speed (issue 21): batched fetching, chunked streams, batches that leave
DataLoader workers as bits; the same items whatever the batch size or worker count."""
from __future__ import annotations

import pickle
import types

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset, default_collate

import qdimd.torch_batch as tb
from qdimd import MaskConfig, MaskGenerator
from qdimd.files.writer import write_masks
from qdimd.kinds import KindGenerator
from qdimd.torch import MaskDataset, MaskFolder, RandomMaskDataset, chunk_size, to_tensor

OUTPUTS = [("float32", "hole", 1), ("uint8", "valid", 3), ("bool", "valid", 1)]


def _all(dataset, batch_size, workers, shuffle=False):
    batches = list(DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=shuffle))
    assert all(type(b) is torch.Tensor for b in batches)
    return torch.cat(batches)


def _sorted(batch: torch.Tensor) -> list[bytes]:
    return sorted(x.numpy().tobytes() for x in batch)


@pytest.mark.parametrize("dtype, polarity, channels", OUTPUTS)
def test_map_datasets_same_items_whatever_batch_and_workers(tmp_path, dtype, polarity, channels):
    write_masks(tmp_path, MaskConfig(size=(40, 40)), n=5, seed=0)
    output = dict(dtype=dtype, polarity=polarity, channels=channels)
    for dataset in (MaskDataset(15, size=36, seed=3, **output), MaskDataset(15, size=36, seed=3, kind="mat:0.5,qdimd:0.5", **output),
                    MaskFolder(tmp_path, size=36, seed=2, length=15, **output)):
        one = _all(dataset, 1, 0)
        seven = _all(dataset, 7, 2)
        assert one.dtype == tb.DTYPES[dtype] and one.shape == (15, channels, 36, 36)
        assert torch.equal(one, seven)
        assert torch.equal(one[4], dataset[4])
        assert _sorted(_all(dataset, 7, 2, shuffle=True)) == _sorted(one)


@pytest.mark.parametrize("kind", [None, "lama-thick"])
def test_stream_same_masks_whatever_batch_chunk_and_workers(monkeypatch, kind):
    stream = RandomMaskDataset(20, size=32, seed=5, kind=kind)
    stream.set_epoch(1)
    one = _all(stream, 1, 0)
    monkeypatch.setattr("qdimd.torch.CHUNK_PIXELS", 3 * 32 * 32)   # chunks of 3 masks, batches of 7
    seven = _all(stream, 7, 2)
    assert _sorted(one) == _sorted(seven) and len(set(_sorted(one))) == 20
    generator = stream.source.generator()
    expected = torch.stack([to_tensor(generator.generate(i)) for i in stream.indices(1)])
    assert torch.equal(one, expected)


def test_sample_indices_are_the_generated_masks():
    for gen in (MaskGenerator(MaskConfig(size=(48, 40)), seed=2), KindGenerator("deepfill,qdimd", MaskConfig(size=(48, 40)), seed=2)):
        indices = [9, 2, 2**40 + 3, 0]
        _, holes = gen.sample_indices(indices)
        for hole, i in zip(holes, indices):
            np.testing.assert_array_equal(hole, gen.generate(i))


def test_chunk_size():
    assert [chunk_size((s, s)) for s in (64, 256, 512, 1024, 8192)] == [64, 64, 64, 32, 1]


@pytest.fixture
def in_a_worker(monkeypatch):
    info = types.SimpleNamespace(id=0, num_workers=2, seed=0, dataset=None)
    monkeypatch.setattr("qdimd.torch.get_worker_info", lambda: info)
    monkeypatch.setattr("qdimd.torch_batch.get_worker_info", lambda: info)


@pytest.mark.parametrize("dtype, polarity, channels", OUTPUTS)
def test_a_worker_batch_crosses_as_bits_and_becomes_the_stacked_tensor(in_a_worker, dtype, polarity, channels):
    ds = MaskDataset(6, size=(24, 21), seed=1, dtype=dtype, polarity=polarity, channels=channels)
    items = ds.__getitems__([5, 0, 3])
    assert all(type(x) is tb.LazyMask for x in items)
    packed = default_collate(items)
    assert type(packed) is tb.PackedBatch and packed.bits.nbytes == 3 * 24 * 3  # 1 bit a pixel, rows of 21 -> 3 bytes
    crossed = pickle.loads(pickle.dumps(packed))
    assert type(crossed) is torch.Tensor
    expected = torch.stack([to_tensor(ds.source.generator().generate(i), dtype, polarity, channels) for i in (5, 0, 3)])
    assert torch.equal(crossed, expected)
    # the items are genuine tensors: reading them (or a custom collate) sees the same pixels
    assert torch.equal(torch.stack(items), expected) and torch.equal(items[1] + 0, expected[1])


def test_a_changed_item_is_collated_as_changed(in_a_worker):
    ds = MaskDataset(4, size=16, seed=0)
    items = ds.__getitems__([0, 1])
    items[1].fill_(0.5)                    # e.g. a wrapper changing items before the default collate
    batch = default_collate(items)
    assert type(batch) is torch.Tensor and torch.all(batch[1] == 0.5)
    assert torch.equal(batch[0], to_tensor(ds.source.generator().generate(0)))
    assert type(pickle.loads(pickle.dumps(ds.__getitems__([2])[0]))) is torch.Tensor


def test_items_outside_workers_are_plain_tensors_and_subsets_batch():
    ds = MaskDataset(10, size=16, seed=0, channels=3)
    assert all(type(x) is torch.Tensor for x in ds.__getitems__([1, 2]))
    assert ds[3].is_contiguous() and ds[3].shape == (3, 16, 16)
    subset = Subset(ds, [7, 2, 9])
    assert torch.equal(_all(subset, 3, 2), torch.stack([ds[7], ds[2], ds[9]]))


def test_datasets_at_1024(tmp_path):
    write_masks(tmp_path, MaskConfig(size=(1024, 1024)), n=2, seed=0)
    gen = MaskGenerator(MaskConfig(size=(1024, 1024)), seed=0)
    for dataset in (MaskDataset(3, size=1024, seed=0), MaskFolder(tmp_path, size=1024)):
        batch = _all(dataset, 2, 2)
        assert batch.shape == (len(dataset), 1, 1024, 1024) and batch.dtype == torch.float32
    np.testing.assert_array_equal(_all(MaskDataset(3, size=1024, seed=0), 3, 2)[2, 0].numpy() == 1, gen.generate(2))
    stream = RandomMaskDataset(3, size=1024, seed=0)
    stream.set_epoch(0)
    assert _all(stream, 3, 1).shape == (3, 1, 1024, 1024)
