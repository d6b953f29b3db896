"""Checkpoints check finiteness with one reduction per device (one wait), not one per tensor."""
from __future__ import annotations

import pytest
import torch

from inpaint.checkpoint import NonFiniteError, all_finite, check_finite


@pytest.fixture()
def reads(monkeypatch):
    """Counts the device-to-host reads a check makes (``bool()``, ``item()``, ``tolist()`` of a tensor)."""
    count = [0]
    for name in ("__bool__", "item", "tolist"):
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _original=original, **kw):
            count[0] += 1
            return _original(self, *a, **kw)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return count


def _payload(bad: bool = False) -> dict:
    weights = {f"w{i}": torch.randn(4, 3) for i in range(40)}
    if bad:
        weights["w17"][1, 2] = float("nan")
    state = {0: {"exp_avg": torch.randn(3), "exp_avg_sq": torch.rand(3), "step": torch.tensor(3.0)}}
    return {"state_dict": weights, "ema_state_dict": None, "optimizer": {"state": state, "param_groups": []}, "step": 3}


def test_one_read_per_part_not_per_tensor(reads):
    check_finite(_payload())
    assert reads[0] <= 3   # before: one per tensor (44)


def test_a_nan_is_found(reads):
    with pytest.raises(NonFiniteError, match="state_dict"):
        check_finite(_payload(bad=True))
    assert all_finite([torch.ones(2), torch.empty(0)]) and not all_finite([torch.ones(2), torch.tensor([float("inf")])])
