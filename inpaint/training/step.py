"""One training step without a host synchronisation, and the statistics it accumulates on the device.

A step: model inputs from the uint8 batch (:func:`inpaint.training.batches.model_inputs`),
forward and loss under autocast (bf16 on CUDA), backward, the total gradient
norm, an optional clip, and the optimiser step. A step whose loss or gradient
norm is not finite is *skipped*: fused Adam receives it as ``found_inf`` and
leaves weights, moments and step count untouched, BatchNorm statistics are put
back, the EMA does not move. All of it runs on the device: nothing waits for
the GPU until :meth:`Stepper.read` (every ``--log-every`` steps) copies the
interval's sums to the host. Where fused Adam is missing, the skip decision
reads one flag per step.

The interval statistics: per loss term the mean over the interval's finite
steps, the mean gradient norm, the number of skipped steps, and the longest run
of consecutive skipped steps (for ``--max-bad-steps``).
"""
from __future__ import annotations

import copy

import torch
import torch.distributed as dist
from torch import nn

from ..device import autocast
from .batches import imagenet_affine, model_inputs
from .losses import TERMS

KEYS = ("total",) + TERMS


def total_norm(grads: list[torch.Tensor], foreach: bool) -> torch.Tensor:
    """The 2-norm of all gradients together, on the device (``torch.nn.utils.get_total_norm`` where torch has it, >= 2.6)."""
    if hasattr(torch.nn.utils, "get_total_norm"):
        return torch.nn.utils.get_total_norm(grads, foreach=foreach)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.detach()) for g in grads]))


def clip_with_norm_(params: list[torch.Tensor], max_norm: float, norm: torch.Tensor, foreach: bool) -> None:
    """Scale the gradients so their total ``norm`` is at most ``max_norm`` (without reading ``norm`` on the host)."""
    if hasattr(torch.nn.utils, "clip_grads_with_norm_"):
        return torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm, foreach=foreach)
    grads = [p.grad for p in params if p.grad is not None]
    coef = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.to(g.device))


def make_optimizer(params, lr: float, device: torch.device) -> tuple[torch.optim.Optimizer, bool]:
    """Adam, fused where the device supports it; returns ``(optimizer, fused)``."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True), True
    except (RuntimeError, ValueError, TypeError):   # no fused kernel for this device or dtype
        return torch.optim.Adam(params, lr=lr, foreach=device.type != "cpu"), False


class Ema:
    """Exponential moving average of a model's weights: ``ema += (1 - decay) * (w - ema)`` after each good step.

    ``module`` is the averaged copy (eval mode, no gradients); buffers (BatchNorm
    statistics) are copied from the model.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, good: torch.Tensor) -> None:
        """One update, weighted by ``good`` (a 0-d float tensor, 0 skips it) on the device."""
        mine, theirs = list(self.module.parameters()), list(model.parameters())
        delta = torch._foreach_sub(theirs, mine)
        torch._foreach_mul_(delta, good * (1.0 - self.decay))
        torch._foreach_add_(mine, delta)
        for b_ema, b in zip(self.module.buffers(), model.buffers()):
            b_ema.copy_(b)


class Stepper:
    """Runs steps and keeps the interval statistics on the device.

    Args:
        model: what the forward calls (the bare model, DDP, or a compiled wrapper).
        bare: the bare model (parameters, buffers, EMA).
        loss_fn: ``loss_fn(output, image, valid) -> dict`` of terms.
        optimizer, fused: from :func:`make_optimizer`.
        device: the training device.
        amp: bf16 autocast (CUDA).
        channels_last: channels-last inputs (CUDA).
        clip_grad: clip the total gradient norm to this (None: no clipping).
        ema: an :class:`Ema` to update, or None.
    """

    def __init__(self, model, bare, loss_fn, optimizer, fused: bool, device: torch.device, *, amp: bool = False,
                 channels_last: bool = False, clip_grad: float | None = None, ema: Ema | None = None):
        self.model, self.bare, self.loss_fn, self.optimizer, self.fused = model, bare, loss_fn, optimizer, fused
        self.device, self.amp, self.channels_last, self.clip_grad, self.ema = device, amp, channels_last, clip_grad, ema
        self.params = [p for p in bare.parameters() if p.requires_grad]
        bns = [m for m in bare.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.buffers = [b for m in bns for b in m.buffers()]
        self.backup = [torch.empty_like(b) for b in self.buffers]
        self.distributed = dist.is_available() and dist.is_initialized()
        self.affine = imagenet_affine(device)   # on the device once: no host-to-device copy inside a step
        self._reset()

    def _reset(self) -> None:
        z = lambda: torch.zeros((), device=self.device)  # noqa: E731
        self.sums = torch.zeros(len(KEYS), device=self.device)
        self.good, self.bad, self.norm_sum, self.streak, self.worst = z(), z(), z(), z(), z()
        self.steps = 0

    def step(self, batch: dict):
        """One step; returns ``(image, valid, output)`` (normalised, on the device)."""
        image, valid, aux = model_inputs(batch, self.device, self.channels_last, self.affine)
        if self.buffers:
            torch._foreach_copy_(self.backup, self.buffers)
        with autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            output = self.model(image * valid, valid, *aux)
            terms = self.loss_fn(output, image, valid)
        self.optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        grads = [p.grad for p in self.params if p.grad is not None]
        norm = total_norm(grads, foreach=self.device.type != "cpu") if grads else torch.zeros((), device=self.device)
        bad = (~(torch.isfinite(terms["total"]) & torch.isfinite(norm))).float()
        if self.distributed:   # every process skips the same steps
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        if self.clip_grad is not None:
            clip_with_norm_(self.params, self.clip_grad, norm, foreach=self.device.type != "cpu")
        if self.fused:
            self.optimizer.found_inf = bad
            self.optimizer.step()
        elif not bad.item():   # the one per-step read, only without fused Adam
            self.optimizer.step()
        for b, old in zip(self.buffers, self.backup):   # a skipped step leaves BatchNorm statistics as they were
            b.copy_(torch.where(bad > 0, old, b))
        if self.ema is not None:
            self.ema.update(self.bare, 1.0 - bad)
        values = torch.stack([terms[k].detach().float() for k in KEYS])
        self.sums += torch.where(bad > 0, torch.zeros_like(values), values)
        self.norm_sum += torch.where(bad > 0, torch.zeros_like(norm), norm.detach().float())
        self.good += 1.0 - bad
        self.bad += bad
        self.streak = (self.streak + 1.0) * bad
        self.worst = torch.maximum(self.worst, self.streak)
        self.steps += 1
        return image, valid, output

    def read(self) -> dict[str, float]:
        """The interval's statistics (one device-to-host copy), then a new interval.

        Returns:
            ``{"total", "valid", ..., "tv", "grad_norm"}`` means over the interval's finite steps
            (averaged over processes; NaN when none was finite), ``bad_steps`` (skipped in the
            interval) and ``bad_streak`` (the longest run of consecutive skipped steps, runs
            continuing from the previous interval included).
        """
        sums = torch.cat([self.sums, self.norm_sum.view(1), self.good.view(1)])
        if self.distributed:
            dist.all_reduce(sums)
        host = sums.tolist()
        bad, worst = (float(v) for v in torch.stack([self.bad, self.worst]).tolist())
        good = host[-1]
        names = KEYS + ("grad_norm",)
        out = {k: (v / good if good else float("nan")) for k, v in zip(names, host[:-1])}
        out.update(bad_steps=int(bad), bad_streak=int(worst))
        streak = self.streak
        self._reset()
        self.streak, self.worst = streak, streak.clone()
        return out
