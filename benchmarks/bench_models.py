"""Cost of partial convolutions and of PConv training, on CPU, measured side by side.

1. ``PartialConv2d`` forward+backward time over ``nn.Conv2d`` for every layer shape
   of the 256 px ``PConvUNet`` (batch 1; target: total <= 1.25x).
2. ``PConvUNet`` forward at 256 over the same UNet built from plain convolutions
   (same channels, BatchNorm, activations, upsampling; target <= 1.3x).
3. Training images/s at 256 (PConvUNet + the full loss with a full-size VGG-16).
4. Peak memory of one training step at batch 1 (a fresh child process: peak RSS
   over the RSS after building the models; CPU only).

Run: ``python -m benchmarks.bench_models`` (``--quick`` for fewer repeats,
``--cpu-time`` to time in process CPU seconds on a busy shared machine).
Timings alternate the two contenders and keep the best of the repeats (a
shared machine adds noise, never speed).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from inpaint.training.losses import InpaintingLoss
from inpaint.nn.pconv import PartialConv2d
from inpaint.nn.unet import PConvUNet


def best_time(fn, repeats: int, clock=time.perf_counter) -> float:
    """Best time of ``repeats`` runs after a warm-up, by ``clock`` (wall, or process CPU time)."""
    fn()
    times = []
    for _ in range(repeats):
        t = clock()
        fn()
        times.append(clock() - t)
    return min(times)


def layer_shapes(size: int = 256) -> list[tuple[PartialConv2d, tuple]]:
    """Every PartialConv2d of the 256 px UNet with the input shape it sees."""
    model = PConvUNet(7)
    shapes = []
    hooks = [m.register_forward_hook(lambda m, a, out: shapes.append((m, tuple(a[0].shape)))) for m in model.modules()
             if isinstance(m, PartialConv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size), torch.ones(1, 1, size, size))
    for h in hooks:
        h.remove()
    return shapes


def bench_layers(repeats: int, clock) -> tuple[float, float, list[str]]:
    total_p = total_c = 0.0
    lines = []
    gen = torch.Generator().manual_seed(0)
    for layer, shape in layer_shapes():
        conv = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                         bias=layer.bias is not None)
        x = torch.randn(shape, generator=gen).requires_grad_()
        mc = shape[1] if layer.multi_channel else 1
        valid = (torch.rand(shape[0], mc, *shape[2:], generator=gen) > 0.3).float()

        def run_p():
            y, _ = layer(x, valid)
            y.sum().backward()

        def run_c():
            conv(x).sum().backward()

        tp, tc = [], []
        for _ in range(repeats):   # alternate so that load changes hit both
            tp.append(best_time(run_p, 1, clock))
            tc.append(best_time(run_c, 1, clock))
        tp, tc = min(tp), min(tc)
        total_p, total_c = total_p + tp, total_c + tc
        lines.append(f"  {layer.in_channels:5d}->{layer.out_channels:<4d} k{layer.kernel_size[0]} s{layer.stride[0]} "
                     f"in {shape[2]:3d}px {'multi ' if layer.multi_channel else 'single'}: "
                     f"pconv {tp * 1e3:7.2f} ms  conv {tc * 1e3:7.2f} ms  x{tp / tc:.2f}")
    return total_p, total_c, lines


class PlainUNet(nn.Module):
    """The PConvUNet's shape with nn.Conv2d (no masks): the baseline of benchmark 2."""

    def __init__(self, ref: PConvUNet):
        super().__init__()
        conv = lambda p: nn.Conv2d(p.in_channels, p.out_channels, p.kernel_size, p.stride, p.padding, bias=p.bias is not None)  # noqa: E731
        self.enc, self.dec = nn.ModuleList(map(conv, ref.enc)), nn.ModuleList(map(conv, ref.dec))
        self.enc_bn, self.dec_bn = ref.enc_bn, ref.dec_bn

    def forward(self, x, valid):
        skips = [x]
        for conv, bn in zip(self.enc, self.enc_bn):
            x = F.relu(bn(conv(x)))
            skips.append(x)
        x = skips.pop()
        for i, (conv, bn) in enumerate(zip(self.dec, self.dec_bn)):
            x = conv(torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skips.pop()], 1))
            if i < len(self.dec) - 1:
                x = F.leaky_relu(bn(x), 0.2)
        return x


def bench_unet(repeats: int, clock) -> tuple[float, float]:
    model = PConvUNet(7).eval()
    plain = PlainUNet(model).eval()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, 256, 256, generator=gen)
    valid = (torch.rand(1, 1, 256, 256, generator=gen) > 0.25).float()
    tp, tc = [], []
    with torch.no_grad():
        for _ in range(repeats):
            tp.append(best_time(lambda: model(x * valid, valid), 1, clock))
            tc.append(best_time(lambda: plain(x * valid, valid), 1, clock))
    return min(tp), min(tc)


def train_setup(batch: int):
    from inpaint.nn.vgg import VGG16Features, load_vgg16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vgg = load_vgg16(allow_random=True)   # full-size VGG-16; weights do not change the cost
    model = PConvUNet(7).train()
    loss = InpaintingLoss(VGG16Features(vgg))
    opt = torch.optim.Adam(model.parameters(), 2e-4)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(batch, 3, 256, 256, generator=gen)
    valid = (torch.rand(batch, 1, 256, 256, generator=gen) > 0.25).float()

    def step():
        terms = loss(model(x * valid, valid), x, valid)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()

    return step


def bench_train(batch: int, repeats: int, clock) -> float:
    step = train_setup(batch)
    return batch / best_time(step, repeats, clock)


def memory_child() -> None:
    """In a fresh process: RSS after set-up, then peak RSS of one training step (bytes)."""
    import resource

    import psutil

    step = train_setup(1)
    base = psutil.Process().memory_info().rss
    step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"base": base, "peak": peak}))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--cpu-time", action="store_true", help="time in process CPU seconds (robust on a shared machine)")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        return memory_child()
    reps = 3 if args.quick else 10
    clock = time.process_time if args.cpu_time else time.perf_counter
    unit = "CPU" if args.cpu_time else "wall"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, best of {reps} by {unit} time")
    tp, tc, lines = bench_layers(reps, clock)
    print("1. PartialConv2d vs nn.Conv2d, forward+backward, batch 1, PConvUNet(256) layers:")
    print("\n".join(lines))
    print(f"   total: pconv {tp * 1e3:.1f} ms, conv {tc * 1e3:.1f} ms, ratio x{tp / tc:.2f} (target <= 1.25)")
    up, uc = bench_unet(reps, clock)
    print(f"2. PConvUNet forward at 256: {up * 1e3:.1f} ms, plain-conv UNet {uc * 1e3:.1f} ms, ratio x{up / uc:.2f} (target <= 1.3)")
    ips = bench_train(1 if args.quick else 2, 2 if args.quick else 4, clock)
    print(f"3. training at 256 (PConvUNet + VGG-16 loss, Adam): {ips:.2f} images/{unit} s")
    cmd = [sys.executable, "-m", "benchmarks.bench_models", "--memory-child"] + (["--threads", str(args.threads)] if args.threads else [])
    mem = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    print(f"4. peak memory of a training step at batch 1: {(mem['peak'] - mem['base']) / 2**20:.0f} MiB above the "
          f"{mem['base'] / 2**20:.0f} MiB of the process with models loaded (peak RSS {mem['peak'] / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
