"""Training logs: a CSV of the loss terms per logged step, TensorBoard when installed, sample grids.

Files in the run folder: ``log.csv`` (``step, samples, total, valid, hole, perceptual,
style, tv, grad_norm, bad_steps, lr, images_per_s``; ``samples``: the training
samples all processes consumed together up to the row's step, which runs on
without gap or repeat when a run is resumed with another number of processes;
the loss terms: means over the steps since
the previous row, skipped non-finite steps left out of the means and counted in
``bad_steps``; then the ``val_*`` columns of a run with validation, filled on
validation steps), ``tb/`` (TensorBoard events: ``train/<column>`` and
``val/<metric>``, only when the ``tensorboard`` package imports), ``samples/step-NNNNNNN.png`` (rows of masked
input | output | composite | ground truth, written with
:func:`inpaint.images.save_image`). Only rank 0 writes them.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import torch

from qdimd.io import atomic_write_bytes

from ..nn.vgg import denormalize

COLUMNS = ("step", "samples", "total", "valid", "hole", "perceptual", "style", "tv", "grad_norm", "bad_steps", "lr", "images_per_s")


class RunLog:
    """Appends rows to ``log.csv`` (and TensorBoard scalars).

    Args:
        folder: the run folder.
        resume_step: on resume, rows after this step (written by the killed run
            after its last checkpoint) are dropped so the log matches the replay.
        extra: further columns (``val_*``).
    """

    def __init__(self, folder: str | os.PathLike, resume_step: int | None = None, extra: tuple[str, ...] = ()):
        self.path = Path(folder) / "log.csv"
        self.columns = COLUMNS + tuple(extra)
        rows = []
        if resume_step is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if r.get("step", "").isdigit() and int(r["step"]) <= resume_step]
        text = io.StringIO()
        writer = csv.DictWriter(text, self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(self.path, text.getvalue().encode())
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(Path(folder) / "tb"), purge_step=resume_step)
        except Exception:  # tensorboard not installed (or broken): CSV only
            self.tb = None

    def write(self, step: int, values: dict[str, float]) -> None:
        """One row: any of the columns (missing ones stay empty)."""
        with open(self.path, "a", newline="") as f:
            row = {"step": step, **{k: v if isinstance(v, int) else f"{v:.6g}" for k, v in values.items() if k in self.columns}}
            csv.DictWriter(f, self.columns, extrasaction="ignore").writerow(row)
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(f"val/{k[4:]}" if k.startswith("val_") else f"train/{k}", v, step)
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def render_grid(image: torch.Tensor, valid: torch.Tensor, output: torch.Tensor, rows: int = 4) -> np.ndarray:
    """``(R*H, 4*W, 3)`` uint8: per row masked input (holes white), output, composite, ground truth.

    Args:
        image: ``(B, 3, H, W)`` normalised ground truth.
        valid: ``(B, 1, H, W)``, 1 = known.
        output: ``(B, 3, H, W)`` normalised model output.
        rows: at most this many batch items.
    """
    n = min(rows, image.shape[0])
    gt = denormalize(image[:n].detach().float())
    out = denormalize(output[:n].detach().float())
    m = valid[:n].detach().float()
    masked = gt * m + (1 - m)
    comp = gt * m + out * (1 - m)
    grid = torch.cat([torch.cat([masked[i], out[i], comp[i], gt[i]], 2) for i in range(n)], 1)
    return (grid.permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
