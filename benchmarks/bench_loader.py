"""Training data loader throughput: samples/s per worker, the uint8 loader next to the loader before issue 11.

``python -m benchmarks.bench_loader --images DIR --size 256 [--workers W]`` measures
:class:`inpaint.training.data.InpaintDataset` alone (no model): photos of DIR with
augmented generated masks at ``--size``. Without ``--workers`` (or with 0) one
process does the work of one worker (``torch`` at one thread, as in a worker);
with ``--workers W`` a real DataLoader with W worker processes runs and its
samples/s are divided by W. Beside DIR it makes stand-ins from DIR's photos in a
temporary folder (each photo resized to 512x512 and saved as JPEG quality 90 and
as PNG, and to 1024x1024 as JPEG) and measures them, and Sim-2 (two neighbours
decoded per sample) on the 512-px JPEGs. Each case also runs the loader before
issue 11 (full-size decode, bicubic resize, float32 normalisation in the worker)
side by side. The last line is ``loader: N samples/s per worker (...)`` for DIR.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inpaint.images import find_images, load_image
from inpaint.nn.vgg import normalize_image
from inpaint.training.batches import make_loader
from inpaint.training.data import DataConfig, InpaintDataset, StepBatchSampler

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = next((p for p in (ROOT.parent / "shared/data/images/kodak24", ROOT / "tests/data/photos") if p.is_dir()))


class OldDataset(InpaintDataset):
    """The loader before issue 11: full-size decode + bicubic cover resize, float32 normalised in the worker."""

    def __getitem__(self, s: int) -> dict:
        i = self.photo_index(s)
        item = {"image": torch.from_numpy(normalize_image(load_image(self.files[i], tuple(self.config.size)))),
                "valid": torch.from_numpy((~self.hole(s)).astype(np.float32)[None]), "index": s}
        if self.config.k:
            aux = [normalize_image(load_image(self.neighbour_files[j], tuple(self.config.size)))
                   for j in self.neighbours[i, : self.config.k]]
            item["aux"] = torch.from_numpy(np.stack(aux))
        return item


def stand_ins(images: list[Path], folder: Path) -> dict[str, list[Path]]:
    """512-px JPEG and PNG and 1024-px JPEG copies of ``images`` (square resizes) in ``folder``."""
    out = {"512-px JPEG": [], "512-px PNG": [], "1024-px JPEG": []}
    for path in images:
        im = Image.open(path).convert("RGB")
        for name, side, suffix in (("512-px JPEG", 512, ".jpg"), ("512-px PNG", 512, ".png"), ("1024-px JPEG", 1024, ".jpg")):
            target = folder / f"{path.stem}-{side}{suffix}"
            im.resize((side, side), Image.BICUBIC).save(target, **({"quality": 90} if suffix == ".jpg" else {}))
            out[name].append(target)
    return out


def dataset(cls, files: list[Path], size: int, k: int, seed: int = 0):
    n = len(files)
    neighbours = np.stack([(np.arange(n) + j) % n for j in range(1, k + 1)], 1) if k else None
    return cls(files, DataConfig((size, size), seed=seed, k=k), neighbours, [str(f) for f in files] if k else None)


def in_process(data, samples: int, clock=time.perf_counter) -> float:
    """Samples/s of one process calling ``__getitem__`` (a worker's work), after a warm-up pass."""
    for s in range(min(len(data), 8)):
        data[s]
    start = clock()
    for s in range(samples):
        data[10_000 + s]
    return samples / (clock() - start)


def with_workers(data, samples: int, workers: int, batch: int = 6) -> float:
    """Samples/s per worker of a DataLoader with ``workers`` processes (first batches excluded)."""
    steps = max(2, samples // batch)
    loader = iter(make_loader(data, StepBatchSampler(batch, 0, steps + 2 * workers), workers, torch.device("cpu")))
    for _ in range(2 * workers):   # every worker started and warm
        next(loader)
    start = time.perf_counter()
    for _ in range(steps):
        next(loader)
    return steps * batch / (time.perf_counter() - start) / workers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="photo folder (default: Kodak24 or tests/data/photos)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=0, help="0: one process (a worker's work); W: a DataLoader with W workers")
    parser.add_argument("--samples", type=int, default=480)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per loader and case; the best is kept")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by this thread's CPU seconds (a busy shared machine; one process only)")
    parser.add_argument("--quick", action="store_true", help="120 samples per case, 2 rounds")
    args = parser.parse_args(argv)
    samples, rounds = (120, 2) if args.quick else (args.samples, args.rounds)
    torch.set_num_threads(1)
    files = find_images(args.images)[:24]
    clock = time.thread_time if args.cpu_time else time.perf_counter
    once = (lambda d: in_process(d, samples, clock)) if args.workers == 0 else (lambda d: with_workers(d, samples, args.workers))

    def measure(data):   # the best of the rounds: a shared machine adds noise, never speed
        return max(once(data) for _ in range(rounds))

    mode = ("1 process" + (", thread CPU time" if args.cpu_time else "") if args.workers == 0
            else f"DataLoader, {args.workers} workers")
    print(f"loader at {args.size}x{args.size}, augmented generated masks, {mode}, {samples} samples x {rounds} rounds "
          "per case (best); samples/s per worker")
    print(f"{'photos':<24}{'uint8 loader':>14}{'before':>10}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(f"{args.images.name} (as given)", files, 0)]
        cases += [(name, paths, 0) for name, paths in stand_ins(files, Path(tmp)).items()]
        cases.append(("512-px JPEG, Sim-2", cases[1][1], 2))
        for name, paths, k in cases:
            new_data, old_data = dataset(InpaintDataset, paths, args.size, k), dataset(OldDataset, paths, args.size, k)
            new, old = measure(new_data), measure(old_data)
            print(f"{name:<24}{new:>14.0f}{old:>10.0f}{new / old:>7.2f}x", flush=True)
            if k == 0 and name.endswith("(as given)"):
                first = (new, old)
    h, w = Image.open(files[0]).size[::-1]
    print(f"loader: {first[0]:.0f} samples/s per worker ({args.images}, {len(files)} photos, first {w}x{h}, "
          f"size {args.size}, augmented masks, {mode}; before: {first[1]:.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
