"""Exact and FAISS cosine search, exclusions, precomputed neighbours, near-duplicates in real photos."""
from __future__ import annotations

import io
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageEnhance

from inpaint.retrieval.database import build_database
from inpaint.retrieval.descriptors import DescriptorConfig
from inpaint.images import find_images, load_image
from inpaint.retrieval.search import FaissConfig, build_faiss_index, import_faiss, precompute_topk, search_exact, search_faiss
from inpaint.nn.vgg import load_vgg16


def _unit(rng, n, d, dtype=np.float16):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(dtype)


def _brute(vectors, queries, k, exclude=None, dup=None):
    sims = queries.astype(np.float64) @ np.asarray(vectors, np.float64).T
    if dup is not None:
        sims[sims > dup] = -np.inf
    for qi, ids in enumerate(exclude or []):
        sims[qi, list(ids)] = -np.inf
    top = np.sort(sims, axis=1)[:, ::-1][:, :k]
    top = np.pad(top, ((0, 0), (0, k - top.shape[1])), constant_values=-np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k], top


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 300), q=st.sampled_from([1, 3, 9]), k=st.integers(1, 12), chunk=st.sampled_from([7, 64, 1000]),
       dtype=st.sampled_from([np.float16, np.float32]), seed=st.integers(0, 2**16))
def test_exact_matches_brute_force(n, q, k, chunk, dtype, seed):
    rng = np.random.default_rng(seed)
    vectors, queries = _unit(rng, n, 16, dtype), _unit(rng, q, 16, np.float32)
    exclude = [set(rng.choice(n, size=min(n, 2), replace=False).tolist()) for _ in range(q)]
    sims, ids = search_exact(vectors, queries, k, exclude=exclude, chunk_rows=chunk)
    want_ids, want_sims = _brute(vectors, queries, k, exclude)
    found = min(k, n - 2 if n >= 2 else 0)
    np.testing.assert_allclose(sims[:, :found], want_sims[:, :found], atol=1e-5)
    assert (ids[:, found:] == -1).all() and np.isneginf(sims[:, found:]).all()
    for qi in range(q):
        assert not set(ids[qi, :found]) & exclude[qi]
    # Near-duplicate exclusion equals brute force with the same threshold.
    sims, ids = search_exact(vectors, queries, k, dup_threshold=0.3, chunk_rows=chunk)
    _, want_sims = _brute(vectors, queries, k, dup=0.3)
    np.testing.assert_allclose(np.where(np.isneginf(want_sims), -9, want_sims), np.where(np.isneginf(sims), -9, sims), atol=1e-5)


def test_float16_memmap_single_query(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "v.npy"
    np.save(path, _unit(rng, 5000, 64))
    vectors = np.load(path, mmap_mode="r")
    queries = np.asarray(vectors[[17]], np.float32)
    sims, ids = search_exact(vectors, queries, 5, chunk_rows=1024)
    assert ids[0, 0] == 17 and abs(sims[0, 0] - 1) < 2e-3
    want_ids, _ = _brute(vectors, queries, 5)
    assert len(set(ids[0]) & set(want_ids[0])) >= 4  # float16 products may swap near-ties
    sims, ids = search_exact(vectors, queries, 5, exclude=[{17}])
    assert 17 not in ids[0]


def test_dup_threshold_drops_near_duplicates():
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 50, 32, np.float32)
    twin = vectors[3] + 0.01 * _unit(rng, 1, 32, np.float32)[0]
    vectors = np.vstack([vectors, twin / np.linalg.norm(twin)])
    sims, ids = search_exact(vectors, vectors[[3]], 3)
    assert set(ids[0, :2]) == {3, 50}
    sims, ids = search_exact(vectors, vectors[[3]], 3, dup_threshold=0.99)
    assert not {3, 50} & set(ids[0]) and (sims < 0.99).all()


def test_precompute_topk_never_self():
    rng = np.random.default_rng(2)
    vectors = _unit(rng, 120, 24, np.float32)
    top = precompute_topk(vectors, 4, batch=50)
    want, _ = _brute(vectors, vectors, 4, [{i} for i in range(120)])
    np.testing.assert_array_equal(top, want)
    with pytest.raises(ValueError, match="k < number of images"):
        precompute_topk(vectors[:3], 3)


@pytest.mark.parametrize("config", [FaissConfig("ivf", nlist=8, nprobe=8), FaissConfig("hnsw", ef_search=256)])
def test_faiss_agrees_with_exact(config):
    rng = np.random.default_rng(3)
    vectors, queries = _unit(rng, 2000, 32), _unit(rng, 20, 32, np.float32)
    index = build_faiss_index(vectors, config, rng)
    exclude = [{int(i)} for i in rng.choice(2000, 20)]
    f_sims, f_ids = search_faiss(index, queries, 10, exclude=exclude)
    e_sims, e_ids = search_exact(vectors, queries, 10, exclude=exclude)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(f_ids, e_ids)])
    assert recall >= 0.97
    np.testing.assert_allclose(f_sims[:, 0], e_sims[:, 0], atol=2e-3)
    for qi, ex in enumerate(exclude):
        assert not set(f_ids[qi]) & ex


def test_faiss_missing_gives_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match="faiss-cpu"):
        import_faiss()


def _perturb(image: np.ndarray) -> np.ndarray:
    """A light edit: 5% crop and rescale, +12% brightness, JPEG quality 60."""
    im = Image.fromarray(image)
    w, h = im.size
    im = im.crop((6, 4, w - 5, h - 7)).resize((w, h), Image.BICUBIC)
    im = ImageEnhance.Brightness(im).enhance(1.12)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=60)
    return np.asarray(Image.open(buf).convert("RGB"))


def test_perturbed_copies_retrieve_each_other_first(photo_dir, tmp_path):
    """Each of 8 photos and its edited copy are mutual first neighbours among 24 real photos.

    Uses random (seeded) VGG weights, the only kind tests can have: with them the
    ``flat`` descriptor (pool5 layout kept) separates near-duplicates by a clear
    margin, while ``pooled`` random features are nearly collinear (all
    similarities ~0.99, margins below float16 resolution); real ImageNet weights
    are needed for ``pooled`` to be discriminative.
    """
    files = find_images(photo_dir)
    copies = []
    for path in files[:8]:
        copy = tmp_path / f"copy_{path.stem}.png"
        Image.fromarray(_perturb(load_image(path))).save(copy)
        copies.append(copy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        vgg = load_vgg16(allow_random=True, width=1 / 8)
    db = build_database(files + copies, tmp_path / "db", vgg=vgg, vgg_source="random",
                        descriptor=DescriptorConfig("flat", size=224), topk=1)
    n = len(files)
    assert db.dim == 64 * 7 * 7
    partner = {i: n + i for i in range(8)} | {n + i: i for i in range(8)}
    assert {i: int(db.topk[i, 0]) for i in partner} == partner
