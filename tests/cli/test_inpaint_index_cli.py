"""``inpaint index`` and ``inpaint query`` through click's CliRunner on real photos."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from qdimd_cli.inpaint_main import main
from inpaint.retrieval.database import ImageDB
from inpaint.images import find_images
from inpaint.nn.vgg import VGG16

TINY = ["--vgg-width", "0.0625", "--size", "64", "--batch-size", "4"]


@pytest.fixture()
def photos(copy_photos, tmp_path):
    return copy_photos(tmp_path / "photos", 8)


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_index_query_and_append(photos, tmp_path):
    out = tmp_path / "db"
    result = _run("index", "--images", photos, "--out", out, "--allow-random-vgg", "--topk", "3", *TINY)
    assert result.exit_code == 0, result.output
    assert "8 images, 32-d pooled descriptors, 3 neighbours each" in result.output
    assert "random VGG-16" in result.output
    db = ImageDB.load(out)
    assert db.topk.shape == (8, 3)

    query = find_images(photos)[2]
    result = _run("query", out, query, "--k", "4", "--allow-random-vgg")
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.output.strip().splitlines()]
    assert len(rows) == 4 and all(len(r) == 2 for r in rows)
    assert str(query) not in [r[0] for r in rows]
    sims = [float(r[1]) for r in rows]
    assert sims == sorted(sims, reverse=True)

    # A new photo is added once; a second --append adds nothing.
    shutil.copy(query, photos / "new_copy.png")
    result = _run("index", "--images", photos, "--out", out, "--allow-random-vgg", "--append", *TINY)
    assert result.exit_code == 0, result.output
    assert "9 images" in result.output and ImageDB.load(out).topk.shape == (9, 3)
    result = _run("index", "--images", photos, "--out", out, "--allow-random-vgg", "--append", "--vgg-width", "0.0625")
    assert result.exit_code == 0 and "9 images" in result.output, "stored --size 64 is kept"
    result = _run("index", "--images", photos, "--out", out, "--allow-random-vgg", "--append", "--vgg-width", "0.0625",
                  "--size", "96")
    assert result.exit_code == 1 and "cannot append" in result.output


def test_index_with_weights_file_and_bad_image(photos, tmp_path):
    weights = tmp_path / "tiny_vgg.pth"
    torch.save(VGG16(0.0625, generator=torch.Generator().manual_seed(1)).state_dict(), weights)
    (photos / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "db"
    result = _run("index", "--images", photos, "--out", out, "--vgg-weights", weights, "--descriptor", "flat", "--pca", "5",
                  "--vgg-width", "0.0625", "--batch-size", "4")
    assert result.exit_code == 0, result.output
    assert "8 images, 5-d flat descriptors" in result.output
    assert "broken.jpg" in result.output and "skipped 1" in result.output
    result = _run("query", out, photos / "kodim01.jpg", "--k", "2", "--vgg-weights", weights)
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 2


def test_errors_are_clean(photos, tmp_path):
    out = tmp_path / "db"
    result = _run("index", "--images", photos, "--out", out, "--vgg-weights", tmp_path / "nope.pth", *TINY)
    assert result.exit_code == 1 and "nope.pth" in result.output and "Traceback" not in result.output
    assert _run("index", "--images", photos, "--out", out, "--allow-random-vgg", *TINY).exit_code == 0
    result = _run("index", "--images", photos, "--out", out, "--allow-random-vgg", *TINY)
    assert result.exit_code == 1 and "--append" in result.output
    result = _run("query", out, photos / "kodim01.jpg")
    assert result.exit_code == 1 and "--allow-random-vgg" in result.output
    result = _run("query", tmp_path, photos / "kodim01.jpg")
    assert result.exit_code == 1 and "not an image database" in result.output
    result = _run("index", "--images", photos, "--out", tmp_path / "db2", "--allow-random-vgg", "--topk", "8", *TINY)
    assert result.exit_code == 1 and "K < number of images (8), got 8" in result.output


def test_index_then_simk_fill_end_to_end(photos, tmp_path):
    """inpaint index -> inpaint fill --method simk (M's command) with tiny models, on CPU."""
    import numpy as np
    from PIL import Image

    from inpaint import create_model
    from inpaint.checkpoint import save_checkpoint

    out = tmp_path / "db"
    result = _run("index", "--images", photos, "--out", out, "--allow-random-vgg", "--vgg-width", "0.0625",
                  "--descriptor", "flat", "--topk", "2")
    assert result.exit_code == 0, result.output
    kwargs = {"image_size": 64, "width": 1 / 16}
    for name, file in (("sim1", "sim1.pt"), ("pconv", "pconv.pt")):
        save_checkpoint(tmp_path / file, create_model(name, **kwargs), model_name=name, model_kwargs=kwargs, step=0, config={})
    hole = np.zeros((128, 128), np.uint8)  # the photos are 128 x 128
    hole[40:80, 30:90] = 255
    Image.fromarray(hole).save(tmp_path / "mask.png")
    query = photos / "kodim03.jpg"
    result = _run("fill", query, tmp_path / "mask.png", "-o", tmp_path / "filled.png", "--method", "simk",
                  "--checkpoint", tmp_path / "sim1.pt", "--db", out, "--coarse", tmp_path / "pconv.pt",
                  "--save-neighbours", "--allow-random-vgg", "--device", "cpu")
    assert result.exit_code == 0, result.output
    filled = np.asarray(Image.open(tmp_path / "filled.png"))
    assert filled.shape == (128, 128, 3)
    assert (tmp_path / "filled.neighbour0.png").is_file()
    assert str(query) not in result.output.split("neighbour0", 1)[1].splitlines()[0]


def test_query_never_returns_itself_by_relative_path_or_copy(photos, tmp_path, monkeypatch):
    """Indexed with a relative --images, queried from another directory by a relative path, and by a copy."""
    monkeypatch.chdir(tmp_path)
    result = _run("index", "--images", "photos", "--out", "db", "--allow-random-vgg", *TINY)
    assert result.exit_code == 0, result.output
    shutil.copy(photos / "kodim02.jpg", tmp_path / "copy.jpg")
    (photos / "sub").mkdir()
    monkeypatch.chdir(photos / "sub")
    for query in ("../kodim02.jpg", tmp_path / "copy.jpg"):
        result = _run("query", "../../db", query, "--k", "7", "--allow-random-vgg")
        assert result.exit_code == 0, result.output
        printed = [line.split("\t")[0] for line in result.output.strip().splitlines()]
        assert len(printed) == 7, "the 7 other photos"
        assert str(photos / "kodim02.jpg") not in printed, query
        assert all(Path(p).is_absolute() and Path(p).is_file() for p in printed)


def test_query_and_simk_fill_use_the_recorded_weights_and_refuse_others(photos, tmp_path, monkeypatch):
    """Issue 10, fault 2: the weights' SHA-256 and absolute path are recorded; other weights are refused."""
    import hashlib

    import numpy as np
    from PIL import Image

    from inpaint import create_model
    from inpaint.checkpoint import save_checkpoint

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))  # no hub cache: the recorded file or nothing
    monkeypatch.chdir(tmp_path)
    weights, other = tmp_path / "tiny_vgg.pth", tmp_path / "other_vgg.pth"
    for path, seed in ((weights, 1), (other, 2)):
        torch.save(VGG16(0.0625, generator=torch.Generator().manual_seed(seed)).state_dict(), path)
    result = _run("index", "--images", photos, "--out", "db", "--vgg-weights", "tiny_vgg.pth",  # a relative path
                  "--vgg-width", "0.0625", "--descriptor", "flat", "--batch-size", "4")
    assert result.exit_code == 0, result.output
    config = ImageDB.load(tmp_path / "db").config
    assert config["vgg_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert config["vgg_path"] == str(weights)

    monkeypatch.chdir(photos)  # the recorded path is absolute: any directory works
    result = _run("query", tmp_path / "db", "kodim01.jpg", "--k", "2")
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 2
    result = _run("query", tmp_path / "db", "kodim01.jpg", "--vgg-weights", other)
    assert result.exit_code == 1 and "SHA-256" in result.output and str(weights) in result.output
    assert "Traceback" not in result.output

    kwargs = {"image_size": 64, "width": 1 / 16}
    save_checkpoint(tmp_path / "sim1.pt", create_model("sim1", **kwargs), model_name="sim1", model_kwargs=kwargs,
                    step=0, config={})
    hole = np.zeros((128, 128), np.uint8)
    hole[40:80, 30:90] = 255
    Image.fromarray(hole).save(tmp_path / "mask.png")
    fill = ["fill", "kodim03.jpg", tmp_path / "mask.png", "-o", tmp_path / "filled.png", "--method", "simk",
            "--checkpoint", tmp_path / "sim1.pt", "--db", tmp_path / "db", "--device", "cpu"]
    result = _run(*fill)
    assert result.exit_code == 0, result.output
    result = _run(*fill, "--vgg-weights", other)
    assert result.exit_code == 1 and "SHA-256" in result.output

    torch.save(VGG16(0.0625, generator=torch.Generator().manual_seed(3)).state_dict(), weights)  # changed since
    result = _run("query", tmp_path / "db", "kodim01.jpg")
    assert result.exit_code == 1 and "SHA-256" in result.output and "--vgg-weights" in result.output


def test_append_after_a_photo_was_removed_says_so(photos, tmp_path):
    """`--append` keeps the descriptors of photos that are gone (retrieval then offers a file that does not exist);
    it now names them and says how to drop them (it said `N images` as if all were there)."""
    out = tmp_path / "db"
    assert _run("index", "--images", photos, "--out", out, "--allow-random-vgg", *TINY).exit_code == 0
    gone = sorted(photos.iterdir())[0]
    gone.unlink()
    result = _run("index", "--images", photos, "--out", out, "--allow-random-vgg", "--append", *TINY)
    assert result.exit_code == 0, result.output
    assert "no longer exist" in result.output and gone.name in result.output
