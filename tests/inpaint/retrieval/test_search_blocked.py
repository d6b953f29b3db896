"""The blocked float16 search (the GPU path), checked on CPU against the per-query products and brute force."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inpaint.retrieval.search import _block_topk, _chunks, _topk_all, precompute_topk, search_exact


def _clustered(rng, n, d, centres=20):
    """Unit float16 rows around a few centres: many close neighbours, so ranking errors would show."""
    c = rng.standard_normal((centres, d)).astype(np.float32)
    v = c[rng.integers(centres, size=n)] + 0.4 * rng.standard_normal((n, d)).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float16)


def _brute_topk(vectors, k, dup=None):
    v = np.asarray(vectors, np.float64)
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    if dup is not None:
        sims[sims > dup] = -np.inf
    return sims, np.argsort(-sims, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("chunk_rows", [97, 4096])
def test_blocked_half_matches_per_query_products(chunk_rows):
    rng = np.random.default_rng(0)
    vectors = _clustered(rng, 1500, 64)
    queries = _clustered(rng, 40, 64)
    rows = torch.from_numpy(vectors)
    q = torch.from_numpy(queries.astype(np.float32))
    exclude = [set(rng.choice(1500, size=3, replace=False).tolist()) for _ in range(40)]
    excluded = torch.tensor([sorted(e) for e in exclude])
    sims, ids = _block_topk(q, _chunks(rows, chunk_rows, torch.device("cpu")), 10, "half", excluded, 0.95)
    for qi in range(40):   # the old path: one query at a time, float16 matrix-vector products
        old_s, old_i = search_exact(vectors, queries[qi], 10, exclude=[exclude[qi]], dup_threshold=0.95)
        np.testing.assert_allclose(sims[qi].numpy(), old_s[0], atol=1e-6)
        assert list(ids[qi].numpy()) == list(old_i[0]) or np.allclose(np.sort(old_s[0]), np.sort(sims[qi].numpy()))
        assert not set(ids[qi].tolist()) & exclude[qi]
        assert (sims[qi].numpy() <= 0.95).all()


@pytest.mark.parametrize("products", ["float32", "half"])
def test_precompute_blocks_match_brute_force(products):
    rng = np.random.default_rng(1)
    vectors = _clustered(rng, 700, 32)
    sims, want = _brute_topk(vectors, 8)
    got = _topk_all(torch.from_numpy(vectors), 8, products, torch.device("cpu"), None, batch=128, chunk_rows=250)
    assert (got != np.arange(700)[:, None]).all()   # never itself
    # same neighbours up to float16 near-ties: the similarity of every returned id matches the true k-th best
    got_s = np.take_along_axis(sims, got, 1)
    want_s = np.take_along_axis(sims, want, 1)
    np.testing.assert_allclose(got_s, want_s, atol=2e-3)
    assert np.mean(got == want) > 0.97


def test_precompute_topk_dup_threshold_and_padding():
    rng = np.random.default_rng(2)
    vectors = _clustered(rng, 300, 16)
    vectors[1] = vectors[0]   # an exact duplicate
    ids = precompute_topk(vectors, 5, dup_threshold=0.999, batch=64)
    assert 1 not in ids[0] and 0 not in ids[1]
    few = precompute_topk(vectors[:4], 3, dup_threshold=0.999)
    assert (few[0] == -1).sum() >= 1 and (few[:, 0] >= 0).all()   # fewer neighbours than k: -1 pads


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_precompute_and_search_match_cpu():
    rng = np.random.default_rng(3)
    vectors = _clustered(rng, 20000, 128)
    cpu = precompute_topk(vectors[:3000], 10)
    gpu = precompute_topk(vectors[:3000], 10, device="cuda", batch=512, chunk_rows=1000)
    assert np.mean(cpu == gpu) > 0.97
    queries = vectors[:50].astype(np.float32)
    s_cpu, _ = search_exact(vectors, queries, 10)
    s_gpu, _ = search_exact(vectors, queries, 10, device="cuda", query_block=16, chunk_rows=3000)
    np.testing.assert_allclose(s_gpu, s_cpu, atol=1e-5)


def test_exclusions_need_no_nonzero(monkeypatch):
    """Excluded ids are masked with one scatter per (query block x chunk): no ``nonzero()`` (a device wait on a GPU)."""
    from inpaint.retrieval import search as search_mod

    rng = np.random.default_rng(4)
    v = rng.standard_normal((300, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    q = v[:7] + 0.01 * rng.standard_normal((7, 16)).astype(np.float32)
    exclude = [(0, 5, 299), (1,), (), (3, 150), (4, 0), (5, 5), (6, 100, 200, 250)]

    def no_nonzero(*args, **kwargs):
        raise AssertionError("nonzero() called")

    monkeypatch.setattr(torch.Tensor, "nonzero", no_nonzero)
    monkeypatch.setattr(torch, "nonzero", no_nonzero)
    sims, ids = search_mod.search_exact(v, q, 5, exclude=exclude, chunk_rows=64)
    full = q @ v.T
    for qi, ex in enumerate(exclude):
        full[qi, list(ex)] = -np.inf
    want = np.argsort(-full, axis=1, kind="stable")[:, :5]
    assert np.array_equal(ids, want)
    half_ids = search_mod._block_topk(torch.from_numpy(q), search_mod._chunks(torch.from_numpy(v).half(), 64, torch.device("cpu")),
                                      5, "half", search_mod._exclusion_ids(exclude, 7))[1].numpy()
    assert np.array_equal(half_ids, want)


def test_device_copies_are_kept_by_identity(monkeypatch):
    """The database is copied to the device once per array object, not once per small query batch."""
    from inpaint.retrieval import search as search_mod

    made = []
    monkeypatch.setattr(search_mod, "_resident", lambda rows, device, fraction=0.5: made.append(rows) or rows)
    v = np.eye(8, dtype=np.float16)
    copies = search_mod.DeviceCopies()
    first = copies.rows(v, torch.device("cpu"))
    assert copies.rows(v, torch.device("cpu")) is first and len(made) == 1
    copies.rows(v.copy(), torch.device("cpu"))   # another array: copied again
    assert len(made) == 2


def test_device_copies_never_serve_a_freed_array(monkeypatch):
    """Kept by identity with the array held: a new array (even where a freed one's id could come back) is copied
    afresh, and the old copy is let go before the new one is sized against the free memory."""
    import gc

    from inpaint.retrieval import search as search_mod

    copies = search_mod.DeviceCopies()
    held = []
    monkeypatch.setattr(search_mod, "_resident",
                        lambda rows, device, fraction=0.5: held.append(copies._copy) or rows.clone())
    for value in range(5):   # temporaries: nothing but the cache refers to each
        got = copies.rows(np.full((4, 8), value, np.float16), torch.device("cpu"))
        gc.collect()
        assert float(got[0, 0]) == value
    assert held == [None] * 5
