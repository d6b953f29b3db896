"""``--device cuda`` under a mocked CUDA: always a device with an index (``torch.cuda.set_device`` needs one)."""
from __future__ import annotations

import pytest
import torch

from inpaint.device import resolve_device


class _Stop(Exception):
    pass


@pytest.fixture()
def fake_cuda(monkeypatch):
    """Two visible GPUs; ``set_device`` behaves like the real one on a bare ``cuda`` (it raises)."""
    calls = []

    def set_device(device):
        device = torch.device(device)
        if device.index is None:
            raise ValueError("Expected a torch.device with a specified index or an integer, but got:cuda")
        calls.append(device)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    return calls


@pytest.mark.parametrize(("name", "local_rank", "want"), [("cuda", 0, "cuda:0"), ("cuda", 1, "cuda:1"), ("cuda", 3, "cuda:1"),
                                                          ("cuda:1", 0, "cuda:1"), ("auto", 1, "cuda:1")])
def test_bare_cuda_gets_this_process_index(fake_cuda, name, local_rank, want):
    assert resolve_device(name, local_rank) == torch.device(want)


def test_cuda_index_out_of_range(fake_cuda):
    with pytest.raises(ValueError, match="below 2"):
        resolve_device("cuda:2")


def test_train_sets_an_indexed_device(fake_cuda, monkeypatch, tmp_path):
    from inpaint.training import loop
    from inpaint.training.config import TrainConfig
    from inpaint.training.distributed import DistInfo

    def stop(*args, **kwargs):
        raise _Stop

    monkeypatch.setattr(loop, "init_process_group", stop)
    with pytest.raises(_Stop):   # before this fix: set_device(torch.device("cuda")) raised first
        loop.train(TrainConfig(images=str(tmp_path), out=str(tmp_path / "run"), device="cuda"),
                   dist_info=DistInfo(rank=1, world_size=2, local_rank=1))
    assert fake_cuda == [torch.device("cuda:1")]
