"""Stroke store at scale: index throughput, peak memory, and generation speed from a big store.

Replicates the real Quick, Draw! sample (``../shared/data/quickdraw/simplified``,
8,600 drawings; fallback: the bundled store exported back to ndjson) with fresh
``key_id``s into a temporary folder of ndjson files until it holds ``--n``
drawings (default 1,000,000), then, each in a fresh subprocess so that peak RSS
is the indexer's own:

* indexes the plain 8,600-drawing sample and the replicated corpus
  (drawings/s, MB/s of ndjson, peak RSS side by side: memory must not grow with the input);
* times ``MaskGenerator(MaskConfig(), store).batch`` (masks/s at 256x256) from the
  big store versus the bundled one, alternating runs, and prints the ratio.

Run: ``.venv/bin/python -m benchmarks.bench_index [--n N] [--quick]``.
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "quickdraw" / "simplified"
KEY = re.compile(rb'"key_id":\s*"?\d+"?')


def sample_lines() -> dict[str, list[bytes]]:
    """Real simplified ndjson lines per category (from ../shared, else from the bundled store)."""
    if SHARED.is_dir():
        return {p.stem: p.read_bytes().splitlines() for p in sorted(SHARED.glob("*.ndjson"))}
    import orjson

    from qdimd.strokes.store import load_default_store

    store, out = load_default_store(), {}
    for d in range(store.n_drawings):
        drawing = store.drawing(d)
        obj = {"word": drawing.word, "countrycode": "", "timestamp": "", "recognized": drawing.recognized,
               "key_id": str(drawing.key_id), "drawing": [s.astype(int).T.tolist() for s in drawing.strokes]}
        out.setdefault(drawing.word, []).append(orjson.dumps(obj))
    return out


def replicate(lines: dict[str, list[bytes]], n: int, folder: Path) -> int:
    """Write ``n`` drawings (sample lines with fresh sequential key_ids) as one ndjson per category."""
    per_round = sum(len(v) for v in lines.values())
    rounds = -(-n // per_round)
    key, written, size = 0, 0, 0
    for word, rows in lines.items():
        with open(folder / f"{word}.ndjson", "wb") as f:
            for _ in range(rounds):
                chunk = []
                for line in rows:
                    if written >= n:
                        break
                    key += 1
                    written += 1
                    chunk.append(KEY.sub(b'"key_id":"%d"' % key, line))
                data = b"\n".join(chunk) + b"\n" if chunk else b""
                f.write(data)
                size += len(data)
    return size


def child_index(src: str, out: str) -> None:
    """Subprocess body: index ``src`` into ``out``; print timings and this process's peak RSS."""
    from qdimd.strokes.builder import build_store
    from qdimd.errors import ProblemLog

    start, cpu = time.perf_counter(), time.process_time()
    counts = build_store([src], out, problems=ProblemLog())
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({**counts, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak_mb}))


def run_index(src: Path, out: Path) -> dict:
    result = subprocess.run([sys.executable, "-m", "benchmarks.bench_index", "--child-index", str(src), str(out)],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def child_generate(big: str, n: int, repeats: int) -> None:
    """Subprocess body: alternate timed batches from the bundled and the big store (warm)."""
    from qdimd.masks.generator import MaskConfig, MaskGenerator
    from qdimd.strokes.store import StrokeStore, load_default_store

    gens = {"bundled": MaskGenerator(MaskConfig(), load_default_store(), seed=0),
            "big": MaskGenerator(MaskConfig(), StrokeStore.load(big), seed=0)}
    for g in gens.values():
        g.batch(0, n)  # warm-up: caches, page faults of the strokes touched
    wall, cpu = {k: [] for k in gens}, {k: [] for k in gens}
    for r in range(repeats):
        for name, g in gens.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            g.batch((r + 1) * n, n)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    median = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    print(json.dumps({"wall": {k: n / median(v) for k, v in wall.items()},
                      "cpu": {k: n / median(v) for k, v in cpu.items()}}))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_index", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="drawings in the replicated corpus")
    parser.add_argument("--quick", action="store_true", help="100,000 drawings and shorter generation runs")
    parser.add_argument("--masks", type=int, default=1000, help="masks per timed generation batch")
    parser.add_argument("--workdir", default=None, help="folder for the temporary corpus (default: system temp)")
    parser.add_argument("--child-index", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-generate", nargs=3, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    if args.child_index:
        return child_index(*args.child_index)
    if args.child_generate:
        return child_generate(args.child_generate[0], int(args.child_generate[1]), int(args.child_generate[2]))
    n = 100_000 if args.quick and args.n == 1_000_000 else args.n
    masks, repeats = (500, 5) if args.quick else (args.masks, 9)

    work = Path(tempfile.mkdtemp(prefix="bench-index-", dir=args.workdir))
    try:
        lines = sample_lines()
        small, big = work / "small", work / "big"
        small.mkdir(), big.mkdir()
        small_bytes = replicate(lines, sum(len(v) for v in lines.values()), small)
        start = time.perf_counter()
        big_bytes = replicate(lines, n, big)
        print(f"corpus: {n:,} drawings, {big_bytes / 1e6:,.0f} MB of ndjson in {len(lines)} files "
              f"(written in {time.perf_counter() - start:.1f} s)")
        rows = [("sample", small_bytes, run_index(small, work / "small.qds")),
                (f"{n:,}", big_bytes, run_index(big, work / "big.qds"))]
        shutil.rmtree(big)
        print(f"{'index':>12} {'drawings':>11} {'wall s':>7} {'CPU s':>7} {'drawings/s':>11} {'(per CPU s)':>11} "
              f"{'MB/s':>6} {'peak RSS MB':>12} {'store MB':>9}")
        for name, nbytes, r in rows:
            store_mb = (work / ("small.qds" if name == "sample" else "big.qds")).stat().st_size / 1e6
            print(f"{name:>12} {r['drawings']:>11,} {r['seconds']:>7.1f} {r['cpu_seconds']:>7.1f} "
                  f"{r['drawings'] / r['seconds']:>11,.0f} {r['drawings'] / r['cpu_seconds']:>11,.0f} "
                  f"{nbytes / 1e6 / r['seconds']:>6.1f} {r['peak_rss_mb']:>12.0f} {store_mb:>9.1f}")
        print(f"peak RSS ratio {rows[1][0]} / sample: {rows[1][2]['peak_rss_mb'] / rows[0][2]['peak_rss_mb']:.2f}x "
              f"for {rows[1][2]['drawings'] / rows[0][2]['drawings']:.0f}x the drawings")
        out = subprocess.run([sys.executable, "-m", "benchmarks.bench_index", "--child-generate",
                              str(work / "big.qds"), str(masks), str(repeats)],
                             check=True, capture_output=True, text=True)
        speeds = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"generation 256x256, one process, alternating runs, median of {repeats} x {masks} masks:")
        for clock, v in speeds.items():
            print(f"  {clock:>4} clock: bundled store {v['bundled']:>8,.0f} masks/s   {n:,}-drawing store "
                  f"{v['big']:>8,.0f} masks/s   ratio big/bundled {v['big'] / v['bundled']:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
