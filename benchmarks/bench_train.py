"""Full training step cost: images/s and peak memory, PConv 256 at batch 6 and Sim-1 256 at batch 12.

``python -m benchmarks.bench_train [--steps N] [--modes eager,compiled] [--devices cpu,cuda:0]``

A step is what ``inpaint train`` runs (:class:`inpaint.training.step.Stepper`):
uint8 batch to the device, normalisation, forward, the full loss with a
full-size VGG-16 (random weights: the cost is the same), backward, gradient norm,
fused Adam; bf16 autocast and channels-last on CUDA. Every device present is
measured (CPU, each CUDA GPU, MPS), eager and ``torch.compile``-d. After warm-up
steps (1 on CPU, 3 elsewhere; compilation happens there) ``--steps`` steps are timed, ending
with a device synchronisation. Peak memory: on CUDA ``max_memory_allocated``
during the timed steps; on CPU each case runs in a fresh child process and
reports its peak RSS over the RSS before the timed steps. CPU defaults to 2 timed
steps (about 10 minutes on an idle 2-core machine, most of it compiling); CUDA to 20.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings

import torch

CASES = {"pconv256": ("pconv256", 6, {}), "sim1": ("sim1", 12, {"image_size": 256})}


def devices() -> list[str]:
    found = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return found


def run_case(case: str, device: str, compiled: bool, steps: int) -> dict:
    """Time ``steps`` training steps of ``case`` on ``device``; returns images/s and peak bytes."""
    from inpaint.nn.models import create_model
    from inpaint.nn.vgg import VGG16, VGG16Features
    from inpaint.training.losses import InpaintingLoss
    from inpaint.training.step import Stepper, make_optimizer

    name, batch, kwargs = CASES[case]
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.set_device(dev)
        torch.backends.cudnn.benchmark = True
    g = torch.Generator().manual_seed(0)
    model = create_model(name, **kwargs).to(dev).train()
    loss_fn = InpaintingLoss(VGG16Features(VGG16(generator=g)).to(dev))
    if cuda:
        model.to(memory_format=torch.channels_last)
        loss_fn.to(memory_format=torch.channels_last)
    optimizer, fused = make_optimizer(model.parameters(), 2e-4, dev)
    forward, loss = (torch.compile(model), torch.compile(loss_fn)) if compiled else (model, loss_fn)
    stepper = Stepper(forward, model, loss, optimizer, fused, dev, amp=cuda, channels_last=cuda)
    data = {"image": torch.randint(0, 256, (batch, 3, 256, 256), dtype=torch.uint8, generator=g),
            "hole": (torch.rand(batch, 1, 256, 256, generator=g) > 0.8).to(torch.uint8)}
    if name == "sim1":
        data["aux"] = torch.randint(0, 256, (batch, 1, 3, 256, 256), dtype=torch.uint8, generator=g)
    if cuda:
        data = {k: v.pin_memory() for k, v in data.items()}

    def sync():
        stepper.read()   # the one host read: waits for the device

    for _ in range(3 if cuda else 1):   # warm-up (compilation happens here)
        stepper.step(data)
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    import psutil

    base = psutil.Process().memory_info().rss
    start = time.perf_counter()
    for _ in range(steps):
        stepper.step(data)
    sync()
    seconds = time.perf_counter() - start
    if cuda:
        peak = torch.cuda.max_memory_allocated(dev)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"images_per_s": steps * batch / seconds, "peak_bytes": max(0, peak)}


def measure(case: str, device: str, compiled: bool, steps: int) -> dict:
    """:func:`run_case`, in a child process on CPU (a clean peak RSS)."""
    if device != "cpu":
        return run_case(case, device, compiled, steps)
    cmd = [sys.executable, "-m", "benchmarks.bench_train", "--child", json.dumps([case, device, compiled, steps])]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 2 on CPU, 20 elsewhere)")
    parser.add_argument("--modes", default="eager,compiled")
    parser.add_argument("--devices", default=None, help="default: every device present")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--quick", action="store_true", help="eager only, 1 timed step on CPU")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.child:
        print(json.dumps(run_case(*json.loads(args.child))))
        return 0
    modes = ["eager"] if args.quick else args.modes.split(",")
    print(f"{'device':<8}{'case':<18}{'mode':<10}{'images/s':>10}{'peak MiB':>10}")
    for device in (args.devices.split(",") if args.devices else devices()):
        steps = args.steps or ((1 if args.quick else 2) if device == "cpu" else 20)
        for case in args.cases.split(","):
            label = f"{case} b{CASES[case][1]}"
            for mode in modes:
                r = measure(case, device, mode == "compiled", steps)
                print(f"{device:<8}{label:<18}{mode:<10}{r['images_per_s']:>10.2f}{r['peak_bytes'] / 2**20:>10.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
