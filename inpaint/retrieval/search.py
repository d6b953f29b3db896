"""Cosine k-nearest-neighbour search over unit descriptors: exact (torch) or FAISS.

Exact search multiplies the queries by the (memory-mapped, float16) database in
row chunks and keeps a running top-k, so memory stays bounded for any database
size. Single CPU queries use float16 matrix-vector products straight on the
mapped rows (memory-bound, the fastest on CPU); CPU batches convert each chunk
to float32 for one GEMM. On a GPU each (query block x database chunk) is one
float16 matrix product on the device (the database is copied there once when it
fits in half the free memory, and kept there between calls by a
:class:`DeviceCopies`, which :class:`~inpaint.retrieval.database.ImageDB` holds);
excluded ids are masked with one scatter per product, with no read back to the
host. Float16 products keep ``k + 16 + k // 2`` candidates per chunk and re-score them in float32 (the float16 error, ~1e-3, is
far below the margin those extra candidates cover). FAISS (``faiss-cpu``,
optional) gives IVF-Flat or HNSW indexes for large databases, both with the
inner-product metric.

Exclusions (for training lookups and queries that sit in the database): per
query ids to skip, and ``dup_threshold``: any result with similarity above it
is treated as a near-duplicate of the query and skipped.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Collection, Iterable, Iterator, Sequence

import numpy as np
import torch

FAISS_KINDS = ("ivf", "hnsw")
PRODUCTS = ("float32", "half", "half-mv")


def _as_torch_rows(vectors: np.ndarray) -> torch.Tensor:
    """A zero-copy torch view of a (possibly memory-mapped) float16/float32 matrix."""
    with warnings.catch_warnings():  # read-only memmaps: torch warns that it wants writable ones; we never write
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.asarray(vectors))


def _exclusion_ids(exclude: Sequence[Collection[int]] | None, n_queries: int) -> torch.Tensor | None:
    """``(Q, E)`` int64 database ids to skip per query, padded with -1 (None when there are none)."""
    if exclude is None:
        return None
    width = max((len(e) for e in exclude), default=0)
    if not width:
        return None
    ids = np.full((n_queries, width), -1, np.int64)
    for qi, e in enumerate(exclude):
        if len(e):
            ids[qi, : len(e)] = list(e)
    return torch.from_numpy(ids)


def _mask_chunk(sims: torch.Tensor, start: int, excluded: torch.Tensor | None, dup_threshold: float | None) -> torch.Tensor:
    """Set excluded ids (absolute, ``(Q, E)``, -1 = none) in ``[start, start + n)`` and near-duplicates to -inf."""
    if dup_threshold is not None:
        sims = sims.masked_fill(sims > dup_threshold, float("-inf"))
    if excluded is not None:   # one scatter for the whole block; no nonzero(), which waits for the device
        local = excluded - start
        inside = (local >= 0) & (local < sims.shape[1])
        index = torch.where(inside, local, 0)
        # outside ids write column 0's own value back: amin keeps -inf wherever an inside id also lands on column 0
        values = torch.where(inside, float("-inf"), sims.gather(1, index))
        sims = sims.scatter_reduce(1, index, values.to(sims.dtype), reduce="amin")
    return sims


def _chunks(rows: torch.Tensor, chunk_rows: int, device: torch.device) -> Iterator[tuple[int, torch.Tensor]]:
    """``(start, rows[start : start + chunk_rows])`` on ``device`` (views when ``rows`` already lives there)."""
    for start in range(0, rows.shape[0], chunk_rows):
        yield start, rows[start : start + chunk_rows].to(device, non_blocking=True)


def _block_topk(
    q: torch.Tensor,
    chunks: Iterable[tuple[int, torch.Tensor]],
    k: int,
    products: str,
    excluded: torch.Tensor | None = None,
    dup_threshold: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` of one block of queries over database chunks, merged chunk by chunk.

    Args:
        q: ``(B, D)`` float32 queries on the chunks' device.
        chunks: ``(start, (n, D) rows)`` pairs.
        k: results per query.
        products: ``"float32"`` (one float32 matrix product per chunk), ``"half"``
            (one float16 matrix product per chunk: the GPU path) or ``"half-mv"``
            (one float16 matrix-vector product per query: single CPU queries on the
            memory map). Float16 kinds rank ``k + 16 + k // 2`` candidates per chunk
            and re-score them in float32.
        excluded: ``(B, E)`` absolute ids to skip (-1 = none), on ``q``'s device.
        dup_threshold: skip results above this similarity.

    Returns:
        ``(sims, ids)`` of shape ``(B, <= k)``, float32 best first and int64.
    """
    if products not in PRODUCTS:
        raise ValueError(f"Expected products in {PRODUCTS}, got {products!r}")
    half = products != "float32"
    keep = k + 16 + k // 2 if half else k
    loose = None if dup_threshold is None else dup_threshold + (2e-3 if half else 0.0)  # float16 error margin
    qh = q.half() if half else q
    best_s = q.new_full((q.shape[0], 0), float("-inf"))
    best_i = torch.zeros((q.shape[0], 0), dtype=torch.int64, device=q.device)
    for start, chunk in chunks:
        if products == "half":
            sims = qh @ chunk.to(torch.float16).T
        elif products == "half-mv":
            sims = torch.stack([torch.mv(chunk, row) for row in qh])
        else:
            sims = q @ chunk.float().T
        sims = _mask_chunk(sims, start, excluded, loose)
        top_s, top_i = sims.topk(min(keep, sims.shape[1]), dim=1)
        if half:  # exact float32 similarities of the candidates
            exact = torch.einsum("qd,qcd->qc", q, chunk[top_i].float())
            top_s = torch.where(torch.isneginf(top_s), float("-inf"), exact)
        if dup_threshold is not None:
            top_s = top_s.masked_fill(top_s > dup_threshold, float("-inf"))
        best_s = torch.cat([best_s, top_s.float()], dim=1)
        best_i = torch.cat([best_i, top_i + start], dim=1)
        best_s, order = best_s.topk(min(k, best_s.shape[1]), dim=1)  # merged with earlier chunks, sorted, k kept
        best_i = best_i.gather(1, order)
    return best_s, best_i


class DeviceCopies:
    """The database on a GPU, copied once and reused while the same array object is searched (a cache by identity).

    :class:`inpaint.retrieval.database.ImageDB` keeps one, so many small query batches
    (one query per Sim-K fill) do not copy the database to the device again each time.
    """

    def __init__(self):
        self._source = None   # the array the copy was made from (held, so its id stays unique)
        self._copy: tuple[torch.device, torch.Tensor] | None = None

    def rows(self, vectors, device: torch.device) -> torch.Tensor:
        """``vectors`` as torch rows on ``device`` when they fit (see :func:`_resident`), else the host rows."""
        if self._source is vectors and self._copy is not None and self._copy[0] == device:
            return self._copy[1]
        self._source = self._copy = None   # the old copy leaves the device before the new one is sized and made
        rows = _resident(_as_torch_rows(vectors), device)
        self._source, self._copy = vectors, (device, rows)
        return rows


def _resident(rows: torch.Tensor, device: torch.device, fraction: float = 0.5) -> torch.Tensor:
    """The whole database on a CUDA ``device`` when it takes at most ``fraction`` of its free memory, else ``rows``."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if rows.numel() * rows.element_size() <= fraction * free:
            return rows.to(device)
    return rows


def search_exact(
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    exclude: Sequence[Collection[int]] | None = None,
    dup_threshold: float | None = None,
    chunk_rows: int = 32768,
    device: str | torch.device = "cpu",
    query_block: int = 4096,
    copies: DeviceCopies | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` cosine neighbours of each query.

    Args:
        vectors: ``(N, D)`` unit rows (float16 memmap or any float array).
        queries: ``(Q, D)`` unit rows.
        k: neighbours per query.
        exclude: for each query, database ids never to return.
        dup_threshold: skip results with similarity above this (near-duplicates).
        chunk_rows: database rows per matrix product.
        device: where the products run; on a GPU the database is copied there once
            when it fits in half the free memory (else each chunk is moved per query block).
        query_block: queries per matrix product on a GPU (CPU runs take all at once).
        copies: keeps the database on the GPU between calls (the same ``vectors`` object);
            without it a call with at most ``query_block`` queries moves the chunks instead.

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
    device = torch.device(device)
    q = torch.from_numpy(queries)
    rows = _as_torch_rows(vectors)
    excluded = _exclusion_ids(exclude, len(queries))
    if device.type == "cpu":
        # single float16 queries: matrix-vector products on the mapped rows (memory-bound, no copy); batches: float32 GEMM
        products = "half-mv" if rows.dtype == torch.float16 and len(q) <= 4 else "float32"
        chunk = max(chunk_rows, 1 << 20) if products == "half-mv" else chunk_rows  # a view of the map, nothing is copied
        sims, ids = _block_topk(q, _chunks(rows, chunk, device), k, products, excluded, dup_threshold)
        return _pad(sims.numpy(), ids.numpy(), k)
    products = "half" if rows.dtype == torch.float16 else "float32"
    if copies is not None:
        source = copies.rows(vectors, device)
    else:
        source = _resident(rows, device) if len(q) > query_block else rows
    parts = []
    for b0 in range(0, len(q), query_block):
        block_ex = None if excluded is None else excluded[b0 : b0 + query_block].to(device)
        s, i = _block_topk(q[b0 : b0 + query_block].to(device), _chunks(source, chunk_rows, device), k, products,
                           block_ex, dup_threshold)
        parts.append(_pad(s.cpu().numpy(), i.cpu().numpy(), k))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _pad(sims: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mark -inf slots with id -1 and pad both arrays to ``k`` columns."""
    ids = np.where(np.isneginf(sims), -1, ids).astype(np.int64)
    if sims.shape[1] < k:
        extra = k - sims.shape[1]
        sims = np.pad(sims, ((0, 0), (0, extra)), constant_values=-np.inf)
        ids = np.pad(ids, ((0, 0), (0, extra)), constant_values=-1)
    return sims.astype(np.float32), ids


def _topk_all(
    rows: torch.Tensor, k: int, products: str, device: torch.device, dup_threshold: float | None, batch: int,
    chunk_rows: int, progress=None,
) -> np.ndarray:
    """:func:`precompute_topk` over ``rows`` (already where they are read from) with one product kind."""
    n = rows.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        q = rows[start:stop].to(device).float()
        self_ids = torch.arange(start, stop, device=device)[:, None]
        sims, ids = _block_topk(q, _chunks(rows, chunk_rows, device), k, products, self_ids, dup_threshold)
        out[start:stop] = _pad(sims.cpu().numpy(), ids.cpu().numpy(), k)[1]
        if progress is not None:
            progress(stop, n)
    return out


def precompute_topk(
    vectors: np.ndarray,
    k: int,
    *,
    dup_threshold: float | None = None,
    batch: int | None = None,
    chunk_rows: int | None = None,
    device: str | torch.device = "cpu",
    progress=None,
) -> np.ndarray:
    """For every database row its ``k`` nearest other rows (never itself).

    On CPU each block of ``batch`` rows is one float32 matrix product per chunk of
    the database; on a GPU the (float16) database is copied to the device once
    when it fits and each (query block x chunk) is one float16 matrix product,
    its candidates re-scored in float32 (see :func:`search_exact`).

    Args:
        vectors: ``(N, D)`` unit rows.
        k: neighbours per row (at most ``N - 1``).
        dup_threshold: also skip near-duplicates above this similarity.
        batch: query rows per pass over the database (default 1024 on CPU, 4096 on a GPU).
        chunk_rows: database rows per product (default 32768 on CPU, 65536 on a GPU).
        device: where the products run.
        progress: optional callback ``progress(done, total)``.

    Returns:
        ``(N, k)`` int64 ids, best first (``-1`` where fewer neighbours exist).
    """
    n = vectors.shape[0]
    if not 1 <= k < max(n, 2):
        raise ValueError(f"Expected 1 <= k < number of images ({n}), got {k}")
    device = torch.device(device)
    rows = _as_torch_rows(vectors)
    if device.type == "cpu":
        return _topk_all(rows, k, "float32", device, dup_threshold, batch or 1024, chunk_rows or 32768, progress)
    products = "half" if rows.dtype == torch.float16 else "float32"
    return _topk_all(_resident(rows, device), k, products, device, dup_threshold, batch or 4096, chunk_rows or 65536, progress)


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
