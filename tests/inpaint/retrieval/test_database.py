"""ImageDB: building from real photos, round trips, --append, bad files, PCA, precomputed neighbours."""
from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np
import pytest

from inpaint.retrieval.database import ImageDB, build_database, load_database_vgg
from inpaint.retrieval.descriptors import DescriptorConfig
from inpaint.images import find_images
from inpaint.nn.vgg import load_vgg16
from qdimd.errors import InputError, ProblemLog

WIDTH = 1 / 8
CONFIG = DescriptorConfig("pooled", size=64)


@pytest.fixture(scope="module")
def vgg():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_vgg16(allow_random=True, width=WIDTH)


@pytest.fixture()
def photos(copy_photos, tmp_path):
    """A private copy of 10 real photos (the test may add files)."""
    return copy_photos(tmp_path / "photos", 10)


def _build(paths, out, vgg, **kw):
    kw.setdefault("descriptor", CONFIG)
    return build_database(paths, out, vgg=vgg, vgg_source="random", **kw)


def test_round_trip_memmapped(photos, tmp_path, vgg):
    calls = []
    db = _build(find_images(photos), tmp_path / "db", vgg, batch_size=4, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (10, 10) and len(calls) == 3
    again = ImageDB.load(tmp_path / "db")
    assert isinstance(again.vectors, np.memmap) and again.vectors.dtype == np.float16
    assert again.vectors.shape == (10, 64)  # 512 * WIDTH channels of conv5_3
    assert again.files == [str(p) for p in find_images(photos)]
    np.testing.assert_array_equal(np.asarray(again.vectors), np.asarray(db.vectors))
    np.testing.assert_allclose(np.linalg.norm(np.asarray(again.vectors, np.float32), axis=1), 1, atol=2e-3)
    assert again.config["descriptor"] == {"kind": "pooled", "size": 64, "pca_dim": None}
    assert again.config["vgg"] == "random" and again.config["vgg_width"] == WIDTH
    assert again.index_of(find_images(photos)[3]) == 3
    assert again.index_of(photos / "missing.png") is None


def test_append_is_idempotent_and_adds_new(photos, tmp_path, vgg):
    files = find_images(photos)
    _build(files[:6], tmp_path / "db", vgg)
    before = json.loads((tmp_path / "db" / "config.json").read_text())
    db = _build(files, tmp_path / "db", vgg, append=True)
    assert len(db) == 10 and db.files[:6] == [str(p) for p in files[:6]]
    full = _build(files, tmp_path / "full", vgg)
    np.testing.assert_array_equal(np.asarray(db.vectors), np.asarray(full.vectors))
    after = json.loads((tmp_path / "db" / "config.json").read_text())
    assert after["generation"] == before["generation"] + 1
    # Again: nothing new, nothing rewritten.
    same = _build(files, tmp_path / "db", vgg, append=True)
    assert len(same) == 10
    assert json.loads((tmp_path / "db" / "config.json").read_text()) == after
    assert sorted(p.name for p in (tmp_path / "db").iterdir()) == ["config.json", "files-000002.json", "vectors-000002.npy"]


def test_existing_db_needs_append(photos, tmp_path, vgg):
    _build(find_images(photos)[:2], tmp_path / "db", vgg)
    with pytest.raises(InputError, match="--append"):
        _build(find_images(photos)[:2], tmp_path / "db", vgg)


def test_append_rejects_other_descriptor(photos, tmp_path, vgg):
    _build(find_images(photos)[:2], tmp_path / "db", vgg)
    with pytest.raises(InputError, match="cannot append"):
        _build(find_images(photos), tmp_path / "db", vgg, append=True, descriptor=DescriptorConfig("pooled", size=96))


def test_unreadable_image_reported_and_skipped(photos, tmp_path, vgg):
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    problems = ProblemLog()
    db = _build(find_images(photos), tmp_path / "db", vgg, problems=problems)
    assert len(db) == 10
    assert len(problems) == 1 and "broken.png" in problems.summary()
    strict = ProblemLog(strict=True)
    with pytest.raises(InputError, match="broken.png"):
        _build(find_images(photos), tmp_path / "db2", vgg, problems=strict)


def test_only_unreadable_is_an_error(tmp_path, vgg):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    with pytest.raises(InputError, match="no readable image"):
        _build([bad], tmp_path / "db", vgg, problems=ProblemLog())


def test_pca_and_topk_stored(photos, tmp_path, vgg):
    cfg = DescriptorConfig("pooled", size=64, pca_dim=6)
    db = _build(find_images(photos), tmp_path / "db", vgg, descriptor=cfg, topk=3)
    loaded = ImageDB.load(tmp_path / "db")
    assert loaded.dim == 6 and loaded.pca is not None and loaded.pca.components.shape == (6, 64)
    assert loaded.topk.shape == (10, 3) and loaded.topk.dtype == np.int64
    assert not (loaded.topk == np.arange(10)[:, None]).any(), "an image is never its own neighbour"
    vecs = np.asarray(loaded.vectors, np.float32)
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, -np.inf)
    np.testing.assert_array_equal(loaded.topk[:, 0], sims.argmax(1))
    # New images are projected with the stored PCA and the neighbours recomputed.
    (photos / "extra.png").write_bytes((photos.parent / "photos" / find_images(photos)[0].name).read_bytes())
    grown = _build(find_images(photos), tmp_path / "db", vgg, descriptor=cfg, append=True)
    assert len(grown) == 11 and grown.topk.shape == (11, 3)
    np.testing.assert_array_equal(grown.pca.components, db.pca.components)


def test_foreign_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not an image database"):
        ImageDB.load(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "something-else"}')
    with pytest.raises(InputError, match="not an inpaint image database"):
        ImageDB.load(tmp_path)


def test_random_db_needs_allow_random(photos, tmp_path, vgg):
    db = _build(find_images(photos)[:2], tmp_path / "db", vgg)
    with pytest.raises(InputError, match="--allow-random-vgg"):
        load_database_vgg(db)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        again = load_database_vgg(db, allow_random=True)
    assert np.array_equal(again.features[0].weight.detach().numpy(), vgg.features[0].weight.detach().numpy())


def test_files_are_stored_absolute(photos, tmp_path, vgg, monkeypatch):
    monkeypatch.chdir(photos.parent)
    db = _build(find_images("photos")[:3], tmp_path / "db", vgg)
    assert db.files == [str(p) for p in find_images(photos)[:3]]
    monkeypatch.chdir(photos)
    assert ImageDB.load(tmp_path / "db").index_of("kodim01.jpg") == 0


def test_append_with_other_weights_is_refused(photos, tmp_path, vgg):
    _build(find_images(photos)[:2], tmp_path / "db", vgg)
    with pytest.raises(InputError, match="not be comparable"):
        build_database(find_images(photos), tmp_path / "db", vgg=vgg, vgg_source="vgg16.pth", append=True)


def test_topk_dup_threshold_keeps_copies_out_and_is_kept_on_append(photos, tmp_path, vgg):
    files = find_images(photos)
    shutil.copy(files[0], photos / "zz_copy.jpg")
    plain = _build(find_images(photos), tmp_path / "plain", vgg, topk=2)
    assert plain.topk[0, 0] == 10, "without a threshold the copy is image 0's nearest neighbour"
    sims = np.asarray(plain.vectors, np.float32) @ np.asarray(plain.vectors, np.float32).T
    np.fill_diagonal(sims, -1)
    threshold = float(np.sort(sims[0])[-2] + sims[0].max()) / 2  # between the copy and the next photo
    db = _build(find_images(photos), tmp_path / "db", vgg, topk=2, topk_dup_threshold=threshold)
    assert 10 not in db.topk[0] and 0 not in db.topk[10]
    assert ImageDB.load(tmp_path / "db").config["topk_dup_threshold"] == threshold
    shutil.copy(files[1], photos / "zz_new.jpg")
    grown = _build(find_images(photos), tmp_path / "db", vgg, append=True)
    assert len(grown) == 12 and 10 not in grown.topk[0] and grown.config["topk_dup_threshold"] == threshold
    with pytest.raises(InputError, match="fewer"):
        _build(find_images(photos), tmp_path / "db3", vgg, topk=2, topk_dup_threshold=-1.0)


def test_interrupted_append_keeps_the_neighbours_to_compute(photos, tmp_path, vgg):
    files = find_images(photos)
    _build(files[:4], tmp_path / "db", vgg, topk=2)

    def interrupt(done, total):
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _build(files, tmp_path / "db", vgg, append=True, batch_size=2, progress=interrupt)
    assert len(ImageDB.load(tmp_path / "db")) == 6, "the images described before Ctrl-C are kept"
    db = _build(files, tmp_path / "db", vgg, append=True)  # the rerun, without --topk
    assert len(db) == 10 and db.topk is not None and db.topk.shape == (10, 2)
    assert "topk_pending" not in db.config


def test_config_naming_files_outside_the_database_is_refused(photos, tmp_path, vgg):
    _build(find_images(photos), tmp_path / "db", vgg)
    victim = tmp_path / "victim.npy"
    victim.write_bytes(b"x")
    config = json.loads((tmp_path / "db" / "config.json").read_text())
    config["data"]["pca"] = "../victim.npy"
    (tmp_path / "db" / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="expected data files named like vectors-000001.npy"):
        ImageDB.load(tmp_path / "db")
    with pytest.raises(InputError, match="expected data files named like"):  # and an append never deletes it
        _build(find_images(photos), tmp_path / "db", vgg, append=True)
    assert victim.exists()


def test_append_refuses_photos_changed_since_they_were_described(photos, tmp_path, vgg):
    paths = find_images(photos)
    _build(paths, tmp_path / "db", vgg)
    before = ImageDB.load(tmp_path / "db").files
    shutil.copy(paths[1], paths[0])  # the same path, another photo
    future = os.stat(tmp_path / "db" / "config.json").st_mtime_ns + 10**9
    os.utime(paths[0], ns=(future, future))  # modified after the database was written, whatever the clock's resolution
    with pytest.raises(InputError, match="1 indexed image.*changed after the database was written"):
        _build(paths, tmp_path / "db", vgg, append=True)
    assert ImageDB.load(tmp_path / "db").files == before
