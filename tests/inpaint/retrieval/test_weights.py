"""inpaint.retrieval.weights: the VGG-16 weights of a database are recorded, found again and checked."""
from __future__ import annotations

import shutil

import pytest
import torch

from inpaint.images import find_images
from inpaint.nn.hub import hub_checkpoint_path
from inpaint.nn.vgg import VGG16, VGG16_URL, load_vgg16
from inpaint.retrieval.database import ImageDB, build_database
from inpaint.retrieval.weights import file_sha256, load_database_vgg, vgg_weights_file
from qdimd.errors import InputError

WIDTH = 0.0625


@pytest.fixture()
def files(tmp_path, photo_dir):
    """Two different tiny VGG-16 weight files and a database built with the first."""
    paths = []
    for seed in (1, 2):
        path = tmp_path / f"vgg{seed}.pth"
        torch.save(VGG16(WIDTH, generator=torch.Generator().manual_seed(seed)).state_dict(), path)
        paths.append(path)
    vgg = load_vgg16(paths[0], width=WIDTH)
    build_database(find_images(photo_dir)[:4], tmp_path / "db", vgg=vgg, vgg_source=vgg_weights_file(paths[0]))
    return paths


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_the_recorded_file_is_loaded_and_other_weights_are_refused(files, tmp_path):
    db = ImageDB.load(tmp_path / "db")
    assert db.config["vgg_sha256"] == file_sha256(files[0]) and db.config["vgg_path"] == str(files[0])
    assert _same(load_database_vgg(db), load_vgg16(files[0], width=WIDTH))
    assert _same(load_database_vgg(db, files[0]), load_vgg16(files[0], width=WIDTH))
    with pytest.raises(InputError, match=f"vgg2.pth: VGG-16 weights with SHA-256 .* but {tmp_path / 'db'} was built"):
        load_database_vgg(db, files[1])


def test_a_moved_file_is_found_in_the_hub_cache_by_its_hash(files, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    db = ImageDB.load(tmp_path / "db")
    moved = tmp_path / "moved.pth"
    files[0].rename(moved)
    with pytest.raises(InputError, match="no file with that SHA-256 .* pass --vgg-weights"):
        load_database_vgg(db)
    cached = hub_checkpoint_path(VGG16_URL)
    cached.parent.mkdir(parents=True)
    shutil.copy(files[1], cached)  # other weights under the cache name are not taken
    with pytest.raises(InputError, match="no file with that SHA-256"):
        load_database_vgg(db)
    shutil.copy(moved, cached)
    assert _same(load_database_vgg(db), load_vgg16(moved, width=WIDTH))


def test_append_with_other_weights_is_refused(files, tmp_path, photo_dir):
    vgg = load_vgg16(files[1], width=WIDTH)
    with pytest.raises(InputError, match="cannot append descriptors from .*vgg2.pth"):
        build_database(find_images(photo_dir)[4:6], tmp_path / "db", vgg=vgg, vgg_source=str(files[1]), append=True)
    vgg = load_vgg16(files[0], width=WIDTH)
    db = build_database(find_images(photo_dir)[4:6], tmp_path / "db", vgg=vgg, vgg_source=str(files[0]), append=True)
    assert len(db) == 6 and db.config["vgg_sha256"] == file_sha256(files[0])


def test_an_old_database_without_a_hash_warns_and_works_as_before(files, tmp_path):
    old = ImageDB.load(tmp_path / "db")
    config = {k: v for k, v in old.config.items() if k not in ("vgg_sha256", "vgg_path")}
    db = ImageDB(old.files, old.vectors, config)
    with pytest.warns(UserWarning, match="records no SHA-256 of its VGG-16 weights"):
        assert _same(load_database_vgg(db), load_vgg16(files[0], width=WIDTH))  # the path it names
    with pytest.warns(UserWarning, match="cannot be checked"):
        assert _same(load_database_vgg(db, files[1]), load_vgg16(files[1], width=WIDTH))  # unchecked, as before


def test_a_random_weights_database_takes_no_weights_file(files, tmp_path, photo_dir):
    vgg = load_vgg16(allow_random=True, width=WIDTH)
    db = build_database(find_images(photo_dir)[:3], tmp_path / "random", vgg=vgg, vgg_source="random")
    assert "vgg_sha256" not in db.config
    with pytest.raises(InputError, match="random VGG-16 weights .* would not be comparable"):
        load_database_vgg(db, files[0])
    with pytest.raises(InputError, match="pass --allow-random-vgg"):
        load_database_vgg(db)
    assert _same(load_database_vgg(db, allow_random=True), vgg)
