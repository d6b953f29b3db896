"""Cosine k-nearest-neighbour search over unit descriptors: exact (torch) or FAISS.

Exact search multiplies the queries by the (memory-mapped, float16) database in
row chunks and keeps a running top-k, so memory stays bounded for any database
size. Single queries (and GPU runs) use float16 products straight on the mapped
rows (memory-bound, the fastest on CPU), keep ``k + 16 + k // 2`` candidates and
re-score them in float32 (the float16 error, ~1e-3, is far below the margin
those extra candidates cover); CPU batches convert each chunk to float32 for a
GEMM. FAISS (``faiss-cpu``, optional) gives IVF-Flat or HNSW indexes for large
databases, both with the inner-product metric.

Exclusions (for training lookups and queries that sit in the database): per
query ids to skip, and ``dup_threshold``: any result with similarity above it
is treated as a near-duplicate of the query and skipped.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Collection, Sequence

import numpy as np
import torch

FAISS_KINDS = ("ivf", "hnsw")


def _as_torch_rows(vectors: np.ndarray) -> torch.Tensor:
    """A zero-copy torch view of a (possibly memory-mapped) float16/float32 matrix."""
    with warnings.catch_warnings():  # read-only memmaps: torch warns that it wants writable ones; we never write
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.asarray(vectors))


def _mask_results(sims: torch.Tensor, offset: int, exclude, dup_threshold: float | None) -> torch.Tensor:
    """Set excluded ids (absolute, in ``[offset, offset + n)``) and near-duplicates to -inf."""
    if dup_threshold is not None:
        sims = sims.masked_fill(sims > dup_threshold, float("-inf"))
    if exclude is not None:
        n = sims.shape[1]
        for qi, ids in enumerate(exclude):
            local = [i - offset for i in ids if offset <= i < offset + n]
            if local:
                sims[qi, local] = float("-inf")
    return sims


def search_exact(
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    exclude: Sequence[Collection[int]] | None = None,
    dup_threshold: float | None = None,
    chunk_rows: int = 32768,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` cosine neighbours of each query.

    Args:
        vectors: ``(N, D)`` unit rows (float16 memmap or any float array).
        queries: ``(Q, D)`` unit rows.
        k: neighbours per query.
        exclude: for each query, database ids never to return.
        dup_threshold: skip results with similarity above this (near-duplicates).
        chunk_rows: database rows per matrix product.
        device: where the products run (``"cuda"`` moves each chunk there).

    Returns:
        ``(sims, ids)``: ``(Q, k)`` float32 similarities, best first, and int64
        ids; slots beyond the available results hold ``-inf`` and ``-1``.
    """
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    n, d = vectors.shape
    if queries.shape[1] != d:
        raise ValueError(f"Expected queries of dimension {d} (the database's), got {queries.shape[1]}")
    if k < 1:
        raise ValueError(f"Expected k >= 1, got {k}")
    if exclude is not None and len(exclude) != len(queries):
        raise ValueError(f"Expected one exclusion set per query ({len(queries)}), got {len(exclude)}")
    q = torch.from_numpy(queries).to(device)
    rows = _as_torch_rows(vectors)
    # float16 products (CPU matrix-vector or GPU): rank a few extra candidates, re-score them in float32.
    half = rows.dtype == torch.float16 and (q.shape[0] <= 4 or torch.device(device).type == "cuda")
    if half and torch.device(device).type == "cpu":
        chunk_rows = max(chunk_rows, 1 << 20)  # a view of the map, nothing is copied
    keep = k + 16 + k // 2 if half else k
    best_s = torch.full((q.shape[0], 0), float("-inf"), device=device)
    best_i = torch.zeros((q.shape[0], 0), dtype=torch.int64, device=device)
    for start in range(0, n, chunk_rows):
        chunk = rows[start : start + chunk_rows].to(device, non_blocking=True)
        if half:
            qh = q.to(chunk.dtype)
            sims = torch.stack([torch.mv(chunk, row) for row in qh]).float()
        else:
            sims = q @ chunk.float().T
        loose = None if dup_threshold is None else dup_threshold + (2e-3 if half else 0.0)  # float16 error margin
        sims = _mask_results(sims, start, exclude, loose)
        top_s, top_i = sims.topk(min(keep, sims.shape[1]), dim=1)
        if half:  # exact float32 similarities of the candidates
            top_s = torch.einsum("qd,qcd->qc", q, chunk[top_i].float())
            top_s = torch.where(torch.isneginf(sims.gather(1, top_i)), float("-inf"), top_s)
        if dup_threshold is not None:
            top_s = top_s.masked_fill(top_s > dup_threshold, float("-inf"))
        best_s = torch.cat([best_s, top_s], dim=1)
        best_i = torch.cat([best_i, top_i + start], dim=1)
        best_s, order = best_s.topk(min(k, best_s.shape[1]), dim=1)  # merged with earlier chunks, sorted, k kept
        best_i = best_i.gather(1, order)
    return _pad(best_s.cpu().numpy(), best_i.cpu().numpy(), k)


def _pad(sims: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mark -inf slots with id -1 and pad both arrays to ``k`` columns."""
    ids = np.where(np.isneginf(sims), -1, ids).astype(np.int64)
    if sims.shape[1] < k:
        extra = k - sims.shape[1]
        sims = np.pad(sims, ((0, 0), (0, extra)), constant_values=-np.inf)
        ids = np.pad(ids, ((0, 0), (0, extra)), constant_values=-1)
    return sims.astype(np.float32), ids


def precompute_topk(
    vectors: np.ndarray,
    k: int,
    *,
    dup_threshold: float | None = None,
    batch: int = 1024,
    device: str | torch.device = "cpu",
    progress=None,
) -> np.ndarray:
    """For every database row its ``k`` nearest other rows (never itself).

    Args:
        vectors: ``(N, D)`` unit rows.
        k: neighbours per row (at most ``N - 1``).
        dup_threshold: also skip near-duplicates above this similarity.
        batch: query rows per pass over the database.
        progress: optional callback ``progress(done, total)``.

    Returns:
        ``(N, k)`` int64 ids, best first (``-1`` where fewer neighbours exist).
    """
    n = vectors.shape[0]
    if not 1 <= k < max(n, 2):
        raise ValueError(f"Expected 1 <= k < number of images ({n}), got {k}")
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        queries = np.asarray(vectors[start:stop], dtype=np.float32)
        _, ids = search_exact(vectors, queries, k, exclude=[(i,) for i in range(start, stop)],
                              dup_threshold=dup_threshold, device=device)
        out[start:stop] = ids
        if progress is not None:
            progress(stop, n)
    return out


@dataclass(frozen=True)
class FaissConfig:
    """A FAISS index: ``ivf`` (IVF-Flat, ``nlist`` cells, ``nprobe`` visited) or ``hnsw``.

    Attributes:
        kind: ``"ivf"`` or ``"hnsw"``.
        nlist: IVF cells; ``None`` = ``4 * sqrt(N)`` clipped to ``[1, N // 39]``.
        nprobe: IVF cells visited per query.
        train_size: IVF training sample (rows drawn with the caller's rng).
        hnsw_m: HNSW graph degree.
        ef_search, ef_construction: HNSW beam widths.
    """

    kind: str = "ivf"
    nlist: int | None = None
    nprobe: int = 32
    train_size: int = 65536
    hnsw_m: int = 32
    ef_search: int = 128
    ef_construction: int = 80

    def __post_init__(self) -> None:
        if self.kind not in FAISS_KINDS:
            raise ValueError(f"Expected FAISS index kind in {FAISS_KINDS}, got {self.kind!r}")


def import_faiss():
    """The ``faiss`` module, or a clear error naming the package to install."""
    try:
        import faiss
    except ImportError:
        raise ImportError("FAISS search needs the optional package faiss-cpu: pip install 'qdimd[faiss]' (or faiss-cpu)") from None
    return faiss


def build_faiss_index(vectors: np.ndarray, config: FaissConfig, rng: np.random.Generator, *, chunk_rows: int = 65536):
    """A FAISS inner-product index over ``vectors`` ``(N, D)``, added in float32 chunks."""
    faiss = import_faiss()
    n, d = vectors.shape
    if config.kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.ef_construction
        index.hnsw.efSearch = config.ef_search
    else:
        nlist = config.nlist or int(np.clip(4 * np.sqrt(n), 1, max(1, n // 39)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.sort(rng.choice(n, size=min(n, max(config.train_size, nlist)), replace=False))
        index.train(np.asarray(vectors[sample], dtype=np.float32))
        index.nprobe = min(config.nprobe, nlist)
    for start in range(0, n, chunk_rows):
        index.add(np.ascontiguousarray(vectors[start : start + chunk_rows], dtype=np.float32))
    return index


def search_faiss(
    index,
    queries: np.ndarray,
    k: int,
    *,
    exclude: Sequence[Collection[int]] | None = None,
    dup_threshold: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top-``k`` with a FAISS index; same outputs and exclusions as :func:`search_exact`."""
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    want = k + (max((len(e) for e in exclude), default=0) if exclude is not None else 0)
    while True:
        fetch = min(index.ntotal, want)
        sims, ids = index.search(queries, fetch)
        sims = sims.astype(np.float32)
        bad = ids < 0
        if dup_threshold is not None:
            bad |= sims > dup_threshold
        if exclude is not None:
            for qi, ex in enumerate(exclude):
                bad[qi] |= np.isin(ids[qi], list(ex))
        sims = np.where(bad, -np.inf, sims)
        enough = ((~bad).sum(axis=1) >= k).all()
        if enough or fetch >= index.ntotal:
            break
        want = 2 * fetch
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return _pad(np.take_along_axis(sims, order, 1), np.take_along_axis(ids, order, 1), k)
