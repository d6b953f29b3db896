"""Sim-K two-step fill: retrieval never returns the query, aux ablations, hole independence, end to end."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from inpaint import create_model
from inpaint.retrieval.database import build_database
from inpaint.retrieval.descriptors import DescriptorConfig
from inpaint.images import find_images, load_image
from inpaint.retrieval.simk import fill_simk, retrieve_neighbours
from inpaint.nn.unet import he_init
from inpaint.nn.vgg import load_vgg16

SIZE = 64


def _tiny(name: str, seed: int):
    model = create_model(name, image_size=SIZE, width=1 / 16)
    he_init(model, torch.Generator().manual_seed(seed))
    return model.eval()


@pytest.fixture(scope="module")
def setup(copy_photos, tmp_path_factory):
    """12 real photos indexed at 64 px with a seeded random tiny VGG (flat descriptor)."""
    root = tmp_path_factory.mktemp("simk")
    photos = copy_photos(root / "photos", 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        vgg = load_vgg16(allow_random=True, width=1 / 16)
    db = build_database(find_images(photos), root / "db", vgg=vgg, vgg_source="random",
                        descriptor=DescriptorConfig("flat", size=224))
    return db, vgg, find_images(photos)


def _hole(seed: int = 0) -> np.ndarray:
    hole = np.zeros((SIZE, SIZE), bool)
    hole[20:44, 16:40] = True
    return hole


def _query(path) -> np.ndarray:
    return load_image(path, (SIZE, SIZE))


def test_model_output_depends_on_aux_not_on_hole_values():
    model = _tiny("sim1", 0)
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.standard_normal((1, 3, SIZE, SIZE)).astype(np.float32))
    valid = torch.from_numpy((~_hole()).astype(np.float32))[None, None]
    aux_a = torch.from_numpy(rng.standard_normal((1, 3, SIZE, SIZE)).astype(np.float32))
    aux_b = torch.from_numpy(rng.standard_normal((1, 3, SIZE, SIZE)).astype(np.float32))
    with torch.no_grad():
        out = model(image, valid, aux_a)
        assert not torch.allclose(out, model(image, valid, aux_b))
        scribbled = torch.where(valid.bool(), image, torch.full_like(image, 7.0))
        assert torch.equal(out, model(scribbled, valid, aux_a))


def test_query_in_database_is_never_returned(setup):
    db, vgg, files = setup
    image = _query(files[5])
    # By path ...
    _, ids = retrieve_neighbours(db, image, 3, vgg=vgg, query_path=files[5], dup_threshold=None)
    assert 5 not in ids and len(ids) == 3
    # ... and by near-duplicate similarity when the path is unknown.
    sims, ids = retrieve_neighbours(db, image, 3, vgg=vgg, dup_threshold=None)
    assert ids[0] == 5 and sims[0] > 0.99, "without exclusion the query finds itself"
    sims, ids = retrieve_neighbours(db, image, 3, vgg=vgg, dup_threshold=0.99)
    assert 5 not in ids and (sims <= 0.99).all()


def test_fill_simk_end_to_end_with_coarse_pconv(setup):
    db, vgg, files = setup
    image, hole = _query(files[2]), _hole()
    model, coarse = _tiny("sim2", 1), _tiny("pconv", 2)
    composite, neighbours = fill_simk(model, image, hole, db, coarse_model=coarse, vgg=vgg, query_path=files[2])
    assert composite.shape == image.shape and composite.dtype == np.uint8
    np.testing.assert_array_equal(composite[~hole], image[~hole])
    assert len(neighbours) == 2
    assert all(p in db.files and p != str(files[2]) and im.shape == image.shape for p, _, im in neighbours)
    assert neighbours[0][1] >= neighbours[1][1]


def test_hole_values_never_matter_end_to_end(setup):
    db, vgg, files = setup
    image, hole = _query(files[7]), _hole()
    scribbled = image.copy()
    scribbled[hole] = np.random.default_rng(0).integers(0, 256, (hole.sum(), 3), dtype=np.uint8)
    model = _tiny("sim1", 3)
    with pytest.warns(UserWarning, match="Telea"):
        a, na = fill_simk(model, image, hole, db, vgg=vgg)
    with pytest.warns(UserWarning, match="Telea"):
        b, nb = fill_simk(model, scribbled, hole, db, vgg=vgg)
    np.testing.assert_array_equal(a[hole], b[hole])
    assert [n[0] for n in na] == [n[0] for n in nb]


def test_output_changes_with_aux_image(setup):
    db, _, files = setup
    image, hole = _query(files[0]), _hole()
    model = _tiny("sim1", 4)
    a, na = fill_simk(model, image, hole, db, aux="random", rng=np.random.default_rng(0), query_path=files[0])
    b, nb = fill_simk(model, image, hole, db, aux="random", rng=np.random.default_rng(5), query_path=files[0])
    assert na[0][0] != nb[0][0]
    assert not np.array_equal(a[hole], b[hole])
    again, _ = fill_simk(model, image, hole, db, aux="random", rng=np.random.default_rng(0), query_path=files[0])
    np.testing.assert_array_equal(a, again)


def test_random_aux_never_draws_query(setup):
    db, _, files = setup
    model = _tiny("sim2", 5)
    rng = np.random.default_rng(0)
    for _ in range(10):
        _, nbrs = fill_simk(model, _query(files[4]), _hole(), db, aux="random", rng=rng, query_path=files[4])
        assert str(files[4]) not in [p for p, _, _ in nbrs]


def test_noise_aux(setup):
    db, _, files = setup
    _, nbrs = fill_simk(_tiny("sim2", 6), _query(files[1]), _hole(), db, aux="noise", rng=np.random.default_rng(1))
    assert [p for p, _, _ in nbrs] == ["noise", "noise"]
    assert nbrs[0][2].shape == (SIZE, SIZE, 3) and not np.array_equal(nbrs[0][2], nbrs[1][2])


@pytest.mark.parametrize("kwargs, message", [
    ({"aux": "other"}, "aux in"),
    ({"aux": "noise"}, "rng"),
    ({"k": 2}, "k >= 1 equal"),
])
def test_bad_arguments(setup, kwargs, message):
    db, vgg, files = setup
    with pytest.raises(ValueError, match=message):
        fill_simk(_tiny("sim1", 0), _query(files[0]), _hole(), db, vgg=vgg, **kwargs)
