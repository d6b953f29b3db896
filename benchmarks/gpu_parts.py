"""The measurements of ``make gpu-check`` (:mod:`benchmarks.gpu_check` runs them against its time budget).

- :func:`time_step`: the real training step (:class:`inpaint.training.step.Stepper`: the model,
  the paper's loss with a VGG-16 of random weights, backward, the gradient norm, fused Adam and
  the EMA) on uint8 batches in pinned memory; images/s, peak memory and the host syncs of one
  step (``torch.cuda.set_sync_debug_mode("warn")``, its warnings counted);
- :func:`loader_rate`: the training loader (every core a worker, pinned memory on CUDA);
- :func:`torchrun_step`: one ``inpaint train`` step under ``torchrun --nproc-per-node 1`` from
  the checkout (``python -m cli.inpaint_main``: nothing installed);
- :func:`exact_topk`: exact top-k of a block of queries over a float16 database on the device.
"""
from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    """One training configuration: ``model`` (factory name) at ``side`` px, per-step ``batch``, ``k`` neighbours."""

    label: str
    model: str
    side: int
    batch: int
    k: int = 0

    def model_kwargs(self, width: float) -> dict:
        fixed = self.model in ("pconv256", "pconv512")
        return {"width": width} if fixed else {"image_size": self.side, "width": width}


@dataclass
class StepResult:
    images_per_s: float
    peak_gib: float | None
    syncs: int | None
    warmup_s: float


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def make_loss(device: torch.device, vgg_width: float):
    """The paper's loss (:func:`inpaint.training.build.build_loss`, default weights) with a random VGG-16."""
    from inpaint.training.build import build_loss
    from inpaint.training.config import TrainConfig
    from inpaint.training.distributed import DistInfo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # "Using a randomly initialised VGG-16": fine for timing
        loss = build_loss(TrainConfig(allow_random_vgg=True, vgg_width=vgg_width), DistInfo(), device)
    return loss.to(memory_format=torch.channels_last) if device.type == "cuda" else loss


def make_batches(case: Case, n: int, pin: bool, rng: np.random.Generator) -> list[dict]:
    """``n`` uint8 batches as the loader hands them over: photos, holes (1 = hole, ~30 %), Sim-K neighbours."""
    s, b = case.side, case.batch
    out = []
    for _ in range(n):
        batch = {"image": torch.from_numpy(rng.integers(0, 256, (b, 3, s, s), dtype=np.uint8)),
                 "hole": torch.from_numpy((rng.random((b, 1, s, s)) < 0.3).astype(np.uint8))}
        if case.k:
            batch["aux"] = torch.from_numpy(rng.integers(0, 256, (b, case.k, 3, s, s), dtype=np.uint8))
        out.append({k: v.pin_memory() if pin else v for k, v in batch.items()})
    return out


@contextlib.contextmanager
def count_syncs(device: torch.device):
    """Yields a list that receives the host synchronisations CUDA reports inside the block (CPU: nothing to count)."""
    found: list[str] = []
    if device.type != "cuda":
        yield found
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield found
        finally:
            torch.cuda.set_sync_debug_mode("default")
    found.extend(str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message).lower())


def time_step(case: Case, device: torch.device, *, bf16: bool, compiled: bool, loss_fn, width: float, steps: int,
              warmup: int = 3, backend: str = "inductor") -> StepResult:
    """Images/s of the real training step (see the module docstring), after ``warmup`` steps (compilation included)."""
    from inpaint.nn.models import create_model
    from inpaint.nn.unet import he_init
    from inpaint.training.step import Ema, Stepper, make_optimizer

    cuda = device.type == "cuda"
    free_memory(device)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    model = create_model(case.model, **case.model_kwargs(width))
    he_init(model, torch.Generator().manual_seed(0))
    model.to(device).train()
    if cuda:
        model.to(memory_format=torch.channels_last)
    optimizer, fused = make_optimizer([p for p in model.parameters() if p.requires_grad], 1e-4 if case.k else 2e-4, device)
    forward, loss = model, loss_fn
    if compiled:
        forward, loss = torch.compile(model, backend=backend), torch.compile(loss_fn, backend=backend)
    stepper = Stepper(forward, model, loss, optimizer, fused, device, amp=bf16, channels_last=cuda,
                      ema=Ema(model, 0.999))
    batches = make_batches(case, 2, cuda, np.random.default_rng(0))
    sync = torch.cuda.synchronize if cuda else (lambda *a: None)
    start = time.perf_counter()
    for i in range(warmup):
        stepper.step(batches[i % 2])
    stepper.read()
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(steps):
        stepper.step(batches[i % 2])
    sync()
    seconds = time.perf_counter() - start
    with count_syncs(device) as syncs:
        stepper.step(batches[0])
    stepper.read()
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None
    del stepper, forward, loss, model, optimizer, batches
    free_memory(device)
    return StepResult(steps * case.batch / seconds, peak, len(syncs) if cuda else None, warm)


def photo_stand_ins(photos: list[Path], folder: Path, side: int = 512) -> list[Path]:
    """``side``-px JPEG copies of ``photos`` (what a training folder holds, rather than the bundled 128-px crops)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for path in photos:
        target = folder / f"{path.stem}.jpg"
        with Image.open(path) as im:
            im.convert("RGB").resize((side, side), Image.BICUBIC).save(target, quality=90)
        out.append(target)
    return out


def loader_rate(files: list[Path], case: Case, workers: int, device: torch.device, seconds: float) -> float:
    """Samples/s of the training loader (``workers`` processes, pinned memory on CUDA) for ``case``, timed for ``seconds``."""
    from inpaint.training.batches import make_loader
    from inpaint.training.data import DataConfig, InpaintDataset, StepBatchSampler

    n = len(files)
    neighbours = np.stack([(np.arange(n) + j) % n for j in range(1, case.k + 1)], 1) if case.k else None
    data = InpaintDataset(files, DataConfig((case.side, case.side), seed=0, k=case.k), neighbours,
                          [str(f) for f in files] if case.k else None)
    loader = make_loader(data, StepBatchSampler(case.batch, 0, None), workers, device)
    it = iter(loader)
    try:
        for _ in range(max(2, 2 * workers)):   # every worker started and warm
            next(it)
        count, start = 0, time.perf_counter()
        while count < 3 or time.perf_counter() - start < seconds:
            next(it)
            count += 1
        return count * case.batch / (time.perf_counter() - start)
    finally:   # the persistent workers end now (the loader holds its iterator), not at some later collection
        del it, loader
        gc.collect()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_group(cmd: list[str], timeout: float, **popen) -> tuple[int | None, str]:
    """``(exit status, stdout + stderr)`` of ``cmd`` in a session of its own; its whole process group is ended
    (SIGTERM, then SIGKILL) when it outlives ``timeout`` or anything interrupts the wait.

    torchrun's workers are its children: killing torchrun alone would leave them holding the GPU.
    Exit status None: stopped after ``timeout`` seconds.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            **popen)
    try:
        text, _ = proc.communicate(timeout=timeout)
        return proc.returncode, text
    except subprocess.TimeoutExpired:
        _end_group(proc)
        text, _ = proc.communicate()
        return None, text + f"\nstopped after {timeout:.0f} s"
    except BaseException:   # the time budget's alarm, Ctrl-C: no orphan keeps running
        _end_group(proc)
        raise


def _end_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM to ``proc``'s process group, SIGKILL to whatever is left of it after ``grace`` seconds.

    An interruption meanwhile (the time budget's alarm) is raised once the group is gone, never halfway.
    """
    interrupted = None
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        try:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait)
        except BaseException as exc:   # noqa: B036 - finish the cleanup, then raise it
            interrupted = interrupted or exc
    if interrupted is not None:
        raise interrupted


def torchrun_step(photos: Path, out: Path, device: torch.device, *, size: int, width: float, vgg_width: float,
                  timeout: float) -> tuple[bool, str]:
    """One ``inpaint train`` step under ``torchrun --nproc-per-node 1`` from this checkout; ``(ok, what happened)``."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "--master-addr", "127.0.0.1",
           "--master-port", str(free_port()), "-m", "cli.inpaint_main", "train", "--images", str(photos),
           "--out", str(out), "--size", str(size), "--width", str(width), "--max-steps", "1", "--batch-size", "2",
           "--allow-random-vgg", "--vgg-width", str(vgg_width), "--workers", "0",
           "--device", str(device), "--dist-timeout", "120"]
    env = dict(os.environ, NCCL_DEBUG="VERSION", PYTHONWARNINGS="ignore",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    start = time.perf_counter()
    code, text = run_group(cmd, timeout, cwd=ROOT, env=env)
    seconds = time.perf_counter() - start
    ok = code == 0 and (out / "checkpoint.pt").is_file()
    if not ok:
        tail = " ".join(line.strip() for line in text.strip().splitlines()[-2:])
        return False, f"exit {code} in {seconds:.0f} s: {tail[-200:]}"
    from inpaint.checkpoint import read_checkpoint

    saved = read_checkpoint(out / "checkpoint.pt")
    nccl = "NCCL version" in text   # NCCL_DEBUG=VERSION: printed when a communicator is made
    ok = saved["step"] == 1 and saved["world_size"] == 1
    how = (", NCCL communicator made" if nccl else ", NCCL's version line not seen") if device.type == "cuda" else ", gloo"
    return ok, f"exit 0 in {seconds:.0f} s, step {saved['step']}, {saved['samples']} samples{how}"


def exact_topk(rows: int, queries: int, device: torch.device, dim: int = 512, k: int = 10, check: int = 64) -> dict:
    """Exact top-``k`` of ``queries`` over ``rows`` x ``dim`` float16 unit vectors on ``device`` (the database kept there),
    each query's own row excluded (the device-side masking Sim-K's lookups use).

    Returns ``seconds_first`` (the copy to the device included), ``seconds`` (resident), and
    ``recall`` against the CPU's float32 search on ``check`` queries.
    """
    from inpaint.retrieval.search import DeviceCopies, search_exact

    gen = torch.Generator(device=device).manual_seed(0)
    v = torch.randn(rows, dim, generator=gen, device=device)
    v /= v.norm(dim=1, keepdim=True)
    vectors = v.half().cpu().numpy()
    q = v[:queries] + 0.5 * torch.randn(min(queries, rows), dim, generator=gen, device=device) / dim**0.5
    q = (q / q.norm(dim=1, keepdim=True)).cpu().numpy()
    del v
    free_memory(device)
    copies = DeviceCopies()
    exclude = [(i,) for i in range(len(q))]   # each query's own row (its nearest): the masking path, as Sim-K lookups
    times = []
    for _ in range(2):
        start = time.perf_counter()
        _, ids = search_exact(vectors, q, k, device=device, copies=copies, exclude=exclude)
        times.append(time.perf_counter() - start)
    _, want = search_exact(vectors, q[:check], k, device="cpu", exclude=exclude[:check])
    if any(i in row for i, row in enumerate(ids[:check].tolist())):
        raise AssertionError("an excluded id came back from the device search")
    recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ids[:check], want)]))
    del copies
    free_memory(device)
    return {"seconds_first": times[0], "seconds": times[1], "recall": recall}
