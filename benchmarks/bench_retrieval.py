"""Retrieval at scale: descriptor throughput, exact vs FAISS latency and recall@10, memory of a 1M DB.

In one run:

* descriptor throughput of the full-size VGG-16 (pooled conv5_3, 256 px, CPU)
  on real Kodak photos; the weights are the fixed random initialisation (the
  cost does not depend on the values, and no ImageNet weights are available
  offline);
* synthetic databases of ``--sizes`` (default 100,000 and 1,000,000) 512-d
  float16 unit vectors, built as follows: real descriptors of 256 random
  crops (1/4 to 1/2 of the side, at 96 px) of the 24 Kodak photos (the VGG above), centred and normalised, are
  the cluster centres; each gets 16 sub-centres (centre + Gaussian noise of
  relative norm 0.5, normalised) and each database vector is a random
  sub-centre + Gaussian noise of relative norm 0.5, normalised (a two-level
  cluster structure; neighbours within a sub-cluster are decided by the noise). Queries are drawn the
  same way (they are not in the database). Vectors are written straight into
  a memory-mapped ``.npy`` and opened with :meth:`inpaint.retrieval.database.ImageDB.load`;
* single-query latency (median of ``--queries`` queries, one at a time, with 1
  thread and with torch's default thread count: on a shared, loaded machine one
  thread is often faster for these memory-bound products) of exact
  search (torch, chunked float16 products on the memory map), FAISS IVF-Flat
  (nlist 1024, nprobe 16) at every size, and FAISS HNSW (M 32) at the smallest
  size (building it at 1M takes too long on 2 cores); recall@10 against exact
  float32 search;
* RSS of the process after opening and searching the largest DB: anonymous
  memory stays small (the DB is mapped, not copied); file-backed pages are the
  page cache of the mapping.

* ``precompute_topk`` (``inpaint index --topk``: every row's 10 nearest other
  rows) over ``--topk-rows`` (default 100,000) x 512 float16 vectors on CPU and,
  where present, CUDA (float16 products per query block x database chunk on the
  device, re-scored in float32), with the share of CUDA ids equal to the CPU's;
  ``--topk-only`` runs this part alone.

Targets: exact over 100k < 20 ms/query; FAISS at 1M < 5 ms with recall@10 >= 0.95.

Run: ``.venv/bin/python -m benchmarks.bench_retrieval [--quick] [--sizes 100000,1000000] [--threads N] [--topk-only] [--topk-rows N]``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from inpaint.retrieval.database import ImageDB

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "kodak24"
TESTS_PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos"


def _rss() -> dict[str, float]:
    """RssAnon / RssFile / VmRSS of this process in MB (Linux)."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def _photos() -> list[np.ndarray]:
    from inpaint.images import find_images, load_image

    folder = KODAK if KODAK.is_dir() else TESTS_PHOTOS
    return [load_image(p) for p in find_images(folder)]


def descriptor_throughput(vgg, photos, n_batches: int, batch: int) -> float:
    """Images/s of pooled descriptors at 256 px."""
    from inpaint.retrieval.descriptors import DescriptorConfig, create_descriptor_features, describe_images

    config = DescriptorConfig("pooled", 256)
    features = create_descriptor_features(vgg, config)
    images = [photos[i % len(photos)] for i in range(batch)]
    describe_images(features, images[:1], config)  # warm-up
    start = time.perf_counter()
    for _ in range(n_batches):
        describe_images(features, images, config)
    return n_batches * batch / (time.perf_counter() - start)


def crop_centres(vgg, photos, n: int, rng: np.random.Generator) -> np.ndarray:
    """Descriptors of ``n`` random crops (1/4 to 1/2 of the side, resized to 96 px), centred and normalised."""
    from PIL import Image

    from inpaint.retrieval.descriptors import DescriptorConfig, create_descriptor_features, describe_images

    config = DescriptorConfig("pooled", 96)
    features = create_descriptor_features(vgg, config)
    crops = []
    for _ in range(n):
        im = photos[rng.integers(len(photos))]
        side = int(rng.integers(min(im.shape[:2]) // 4, min(im.shape[:2]) // 2 + 1))
        y, x = rng.integers(0, im.shape[0] - side + 1), rng.integers(0, im.shape[1] - side + 1)
        crops.append(np.asarray(Image.fromarray(im[y : y + side, x : x + side]).resize((96, 96), Image.BILINEAR)))
    desc = np.concatenate([describe_images(features, crops[i : i + 32], config) for i in range(0, n, 32)])
    desc -= desc.mean(axis=0)
    return desc / np.linalg.norm(desc, axis=1, keepdims=True)


def subcentres(centres: np.ndarray, per: int, rng: np.random.Generator) -> np.ndarray:
    """``per`` sub-centres around each centre: centre + Gaussian noise of relative norm 0.5, normalised."""
    d = centres.shape[1]
    v = np.repeat(centres, per, axis=0) + 0.5 * rng.standard_normal((len(centres) * per, d), dtype=np.float32) / np.sqrt(d)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def synthetic(centres: np.ndarray, n: int, rng: np.random.Generator, out=None, chunk: int = 50_000) -> np.ndarray:
    """``n`` unit vectors: a random sub-centre + Gaussian noise of relative norm 0.5, float16 (written into ``out``)."""
    d = centres.shape[1]
    out = np.empty((n, d), np.float16) if out is None else out
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        v = centres[rng.integers(len(centres), size=m)] + 0.5 * rng.standard_normal((m, d), dtype=np.float32) / np.sqrt(d)
        out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def make_db(folder: Path, centres, n: int, rng) -> ImageDB:
    """A database folder with ``n`` synthetic vectors written through a memory map."""
    from inpaint.retrieval.database import FORMAT, VERSION, ImageDB

    folder.mkdir(parents=True)
    vectors = np.lib.format.open_memmap(folder / "vectors-000001.npy", mode="w+", dtype=np.float16, shape=(n, centres.shape[1]))
    synthetic(centres, n, rng, out=vectors)
    vectors.flush()
    del vectors
    (folder / "files-000001.json").write_text(json.dumps([f"synthetic/{i:07d}.jpg" for i in range(n)]))
    config = {"format": FORMAT, "version": VERSION, "generation": 1, "count": n, "dim": centres.shape[1],
              "descriptor": {"kind": "pooled", "size": 256, "pca_dim": None}, "vgg": "synthetic", "vgg_width": 1.0,
              "topk_k": None, "data": {"vectors": "vectors-000001.npy", "files": "files-000001.json"}}
    (folder / "config.json").write_text(json.dumps(config))
    return ImageDB.load(folder)


def _latency(fn, queries, threads: int) -> tuple[float, list]:
    """Median ms per single query with ``threads`` torch/FAISS threads, and the results."""
    import faiss

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    times, results = [], []
    try:
        for q in queries:
            start = time.perf_counter()
            results.append(fn(q[None]))
            times.append((time.perf_counter() - start) * 1000)
    finally:
        torch.set_num_threads(before)
        faiss.omp_set_num_threads(before)
    return statistics.median(times), results


def _recall(results, truth: np.ndarray) -> float:
    return float(np.mean([len(set(r[1][0]) & set(t)) / truth.shape[1] for r, t in zip(results, truth)]))


def topk_vectors(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` float16 unit vectors around 1,000 random centres (noise of relative norm ~0.7)."""
    centres = rng.standard_normal((1000, d)).astype(np.float32)
    out = np.empty((n, d), np.float16)
    for start in range(0, n, 50_000):
        m = min(50_000, n - start)
        v = centres[rng.integers(1000, size=m)] + 0.7 * rng.standard_normal((m, d), dtype=np.float32)
        out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def bench_topk(n: int, rng: np.random.Generator, k: int = 10) -> list[tuple[str, float, float]]:
    """``(device, seconds, share of ids equal to the CPU's)`` of ``precompute_topk`` over ``n`` x 512."""
    from inpaint.retrieval.search import precompute_topk

    vectors = topk_vectors(n, 512, rng)
    rows = []
    start = time.perf_counter()
    cpu = precompute_topk(vectors, k)
    rows.append(("cpu", time.perf_counter() - start, 1.0))
    print(f"precompute_topk {n:,} x 512, k {k}, cpu ({torch.get_num_threads()} threads): {rows[-1][1]:.1f} s", flush=True)
    if torch.cuda.is_available():
        precompute_topk(vectors[:5000], k, device="cuda")   # CUDA context and kernels warm
        torch.cuda.synchronize()
        start = time.perf_counter()
        ids = precompute_topk(vectors, k, device="cuda")
        rows.append((f"cuda ({torch.cuda.get_device_name()})", time.perf_counter() - start, float(np.mean(ids == cpu))))
        print(f"precompute_topk {n:,} x 512, k {k}, {rows[-1][0]}: {rows[-1][1]:.2f} s, ids equal to CPU {rows[-1][2]:.4f}",
              flush=True)
    return rows


def _print_topk(n: int, rows) -> None:
    print(f"\n| precompute_topk {n:,} x 512, k 10 | seconds | rows/s | ids equal to CPU |\n|---|---|---|---|")
    for device, seconds, agree in rows:
        print(f"| {device} | {seconds:.2f} | {n / seconds:,.0f} | {agree:.4f} |")
    if len(rows) > 1:
        print(f"cuda is {rows[0][1] / rows[1][1]:.0f}x faster than cpu")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k and 100k vectors, fewer queries and images")
    parser.add_argument("--sizes", default=None, help="comma-separated database sizes (default 100000,1000000)")
    parser.add_argument("--queries", type=int, default=None, help="timed single queries per backend (default 50, quick 20)")
    parser.add_argument("--threads", type=int, default=None, help="torch and FAISS threads (default: torch's)")
    parser.add_argument("--topk-rows", type=int, default=None, help="precompute_topk rows (default 100000, quick 20000; 0 skips)")
    parser.add_argument("--topk-only", action="store_true", help="only the precompute_topk part")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in (args.sizes or ("20000,100000" if args.quick else "100000,1000000")).split(",")]
    n_queries = args.queries or (20 if args.quick else 50)
    if args.threads:
        torch.set_num_threads(args.threads)
    topk_rows = args.topk_rows if args.topk_rows is not None else (20_000 if args.quick else 100_000)
    topk_table = bench_topk(topk_rows, np.random.default_rng(1)) if topk_rows else []
    if args.topk_only:
        _print_topk(topk_rows, topk_table)
        return
    from inpaint.retrieval.search import FaissConfig, build_faiss_index, import_faiss, search_exact, search_faiss
    from inpaint.nn.vgg import load_vgg16

    faiss = import_faiss()
    faiss.omp_set_num_threads(torch.get_num_threads())
    rng = np.random.default_rng(0)
    thread_counts = sorted({1, torch.get_num_threads()})
    print(f"torch threads: {torch.get_num_threads()} (latency measured with {thread_counts}), faiss {faiss.__version__}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        vgg = load_vgg16(allow_random=True)
    photos = _photos()
    batch = 2 if args.quick else 8
    ips = descriptor_throughput(vgg, photos, 1 if args.quick else 2, batch)
    print(f"descriptors: {ips:.2f} images/s (VGG-16 full size, random weights, pooled conv5_3, 256 px, batch {batch}, CPU)")
    t = time.perf_counter()
    centres = crop_centres(vgg, photos, 64 if args.quick else 256, rng)
    print(f"cluster centres: {len(centres)} crop descriptors in {time.perf_counter() - t:.1f} s")
    centres = subcentres(centres, 16, rng)
    del vgg
    queries = synthetic(centres, n_queries, rng).astype(np.float32)
    tmp = Path(tempfile.mkdtemp(prefix="bench_retrieval_"))
    rows = []
    try:
        for n in sizes:
            t = time.perf_counter()
            db = make_db(tmp / f"db{n}", centres, n, rng)
            build_s = time.perf_counter() - t
            truth = search_exact(db.vectors, queries, 10, chunk_rows=65536)[1]  # float32 GEMM
            for threads in thread_counts:
                exact_ms, exact_res = _latency(lambda q, db=db: db.search(q, 10), queries, threads)
                rows.append((n, f"exact (torch fp16 mmap), {threads} thread(s)", exact_ms, _recall(exact_res, truth), 0.0))
            rss = _rss()
            print(f"[{n:,}] made in {build_s:.1f} s; exact {exact_ms:.2f} ms/query; RSS {rss.get('VmRSS', 0):.0f} MB "
                  f"(anon {rss.get('RssAnon', 0):.0f} MB, file-backed {rss.get('RssFile', 0):.0f} MB; "
                  f"DB {n * 512 * 2 / 2**20:.0f} MB float16, {'memmap' if isinstance(db.vectors, np.memmap) else 'COPY'})",
                  flush=True)
            kinds = [FaissConfig("ivf", nlist=min(1024, n // 39), nprobe=16, train_size=40960)]
            if n == min(sizes):
                kinds.append(FaissConfig("hnsw", hnsw_m=32, ef_search=64, ef_construction=64))
            for config in kinds:
                t = time.perf_counter()
                index = build_faiss_index(db.vectors, config, rng)
                build_s = time.perf_counter() - t
                for nprobe in ((8, 16) if config.kind == "ivf" else (None,)):
                    if nprobe is not None:
                        index.nprobe = nprobe
                    for threads in thread_counts:
                        ms, res = _latency(lambda q, index=index: search_faiss(index, q, 10), queries, threads)
                        label = (f"faiss ivf nlist {config.nlist} nprobe {nprobe}" if config.kind == "ivf" else
                                 f"faiss hnsw M {config.hnsw_m} ef {config.ef_search}") + f", {threads} thread(s)"
                        rows.append((n, label, ms, _recall(res, truth), build_s))
                        print(f"[{n:,}] {label}: {ms:.3f} ms/query, recall@10 {rows[-1][3]:.3f}, built in {build_s:.1f} s",
                              flush=True)
                del index
            del db
            shutil.rmtree(tmp / f"db{n}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n| vectors | backend | ms/query | recall@10 | index build s |\n|---|---|---|---|---|")
    for n, label, ms, rec, b in rows:
        print(f"| {n:,} | {label} | {ms:.2f} | {rec:.3f} | {b:.1f} |")
    exact = {}
    for n, label, ms, _, _ in rows:
        if label.startswith("exact"):
            exact[n] = min(ms, exact.get(n, float("inf")))
    for n, label, ms, _, _ in rows:
        if label.startswith("faiss"):
            print(f"{n:,}: {label} is {exact[n] / ms:.1f}x faster than the best exact")
    if topk_table:
        _print_topk(topk_rows, topk_table)
    if 100_000 in exact:
        print(f"target exact@100k < 20 ms: best {exact[100_000]:.2f} ms -> {'PASS' if exact[100_000] < 20 else 'FAIL'}")
    ivf_1m = [(ms, rec, label) for n, label, ms, rec, _ in rows if n == 1_000_000 and "ivf" in label and rec >= 0.95]
    if ivf_1m:
        ms, rec, label = min(ivf_1m)
        print(f"target faiss@1M < 5 ms, recall@10 >= 0.95: {label}: {ms:.2f} ms, {rec:.3f} -> {'PASS' if ms < 5 else 'FAIL'}")


if __name__ == "__main__":
    main()
