"""``inpaint fill`` and ``inpaint train`` through click, and fill_image on real photos."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cli.inpaint_main import main
from inpaint.checkpoint import load_checkpoint, save_checkpoint
from inpaint.fill.classical import fill_classical
from inpaint.fill.unet import fill_image
from inpaint.images import load_image
from inpaint.nn.models import create_model

pytestmark = pytest.mark.filterwarnings("ignore:Using a randomly initialised VGG-16", "ignore:no coarse model")


@pytest.fixture(scope="module")
def work(tmp_path_factory, photo_dir):
    """A photo, a hole mask (255 = hole), tiny PConv and Sim-1 checkpoints, a 6-image database."""
    d = tmp_path_factory.mktemp("fill")
    photo = sorted(photo_dir.glob("*"))[0]
    hole = np.zeros((128, 128), np.uint8)
    hole[30:70, 40:100] = 255
    Image.fromarray(hole).save(d / "mask.png")
    Image.fromarray(hole[:100]).save(d / "small.png")
    for name, kwargs in (("pconv", {"image_size": 64, "width": 0.125}), ("sim1", {"image_size": 64, "width": 0.125})):
        model = create_model(name, **kwargs)
        save_checkpoint(d / f"{name}.pt", model, model_name=name, model_kwargs=kwargs, step=0, config={})
    from inpaint.retrieval.database import ImageDB
    from inpaint.retrieval.descriptors import DescriptorConfig

    files = [str(p) for p in sorted(photo_dir.glob("*"))[1:7]]
    vectors = np.random.default_rng(0).normal(size=(6, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float16)
    topk = np.stack([np.roll(np.arange(6), -1), np.roll(np.arange(6), -2)], 1)
    ImageDB(files, vectors, {"descriptor": DescriptorConfig(size=64).to_dict(), "vgg": "random", "vgg_width": 0.125}, topk=topk).save(d / "db")
    return d, photo


def invoke(*args):
    return CliRunner().invoke(main, ["fill", *map(str, args)], catch_exceptions=False)


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_classical_cli(work, method):
    d, photo = work
    result = invoke(photo, d / "mask.png", "-o", d / f"{method}.png", "--method", method)
    assert result.exit_code == 0, result.output
    out, image = load_image(d / f"{method}.png"), load_image(photo)
    hole = np.asarray(Image.open(d / "mask.png")) > 127
    assert np.array_equal(out[~hole], image[~hole])
    assert np.array_equal(out, fill_classical(image, hole, method))


def test_pconv_cli_and_hole_value(work):
    d, photo = work
    result = invoke(photo, d / "mask.png", "-o", d / "p.png", "--method", "pconv", "--checkpoint", d / "pconv.pt", "--device", "cpu")
    assert result.exit_code == 0, result.output
    image, out = load_image(photo), load_image(d / "p.png")
    hole = np.asarray(Image.open(d / "mask.png")) > 127
    assert np.array_equal(out[~hole], image[~hole]) and not np.array_equal(out[hole], image[hole])
    inverted = d / "inv.png"
    Image.fromarray(255 - np.asarray(Image.open(d / "mask.png"))).save(inverted)
    result = invoke(photo, inverted, "-o", d / "p0.png", "--method", "pconv", "--checkpoint", d / "pconv.pt", "--hole-value", "0")
    assert result.exit_code == 0 and np.array_equal(load_image(d / "p0.png"), out)


def test_folders(work, photo_dir, tmp_path):
    d, _ = work
    masks = tmp_path / "masks"
    masks.mkdir()
    photos = sorted(photo_dir.glob("*"))[:3]
    for p in photos[:2]:
        Image.open(d / "mask.png").save(masks / f"{p.stem}.png")
    result = invoke(photo_dir, masks, "-o", tmp_path / "out", "--method", "telea")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{p.stem}.png" for p in photos[:2])
    assert "no mask" in result.output and "skipped 22" in result.output
    assert "wrote 2 image(s)" in result.output


def _photos_and_masks(photo_dir, tmp_path, n, mask):
    """``tmp_path/photos`` with the first ``n`` photos and ``tmp_path/masks`` with a copy of ``mask`` per photo."""
    photos, masks = tmp_path / "photos", tmp_path / "masks"
    photos.mkdir(), masks.mkdir()
    for p in sorted(photo_dir.glob("*"))[:n]:
        (photos / p.name).write_bytes(p.read_bytes())
        Image.open(mask).save(masks / f"{p.stem}.png")
    return photos, masks


def test_folders_count_only_written_images(work, photo_dir, tmp_path):
    d, _ = work
    photos, masks = _photos_and_masks(photo_dir, tmp_path, 3, d / "mask.png")
    (photos / "broken.png").write_bytes(b"not an image")          # has a mask, unreadable
    Image.open(d / "mask.png").save(masks / "broken.png")
    Image.open(d / "small.png").save(masks / f"{sorted(photo_dir.glob('*'))[0].stem}.png")   # wrong size
    (photos / "lonely.png").write_bytes(sorted(photo_dir.glob("*"))[0].read_bytes())          # no mask
    result = invoke(photos, masks, "-o", tmp_path / "out", "--method", "telea")
    assert result.exit_code == 0, result.output
    assert "wrote 2 image(s)" in result.output and "skipped 3" in result.output
    assert len(list((tmp_path / "out").iterdir())) == 2
    assert f"{photos / 'broken.png'}: not a readable image" in result.output
    assert f"{photos / 'broken.png'}: {photos / 'broken.png'}" not in result.output


def test_bad_inputs(work, tmp_path):
    d, photo = work
    cases = [
        ((photo, d / "small.png", "-o", tmp_path / "x.png", "--method", "telea"), "differs from image"),
        ((photo, tmp_path / "nope.png", "-o", tmp_path / "x.png", "--method", "telea"), "no such file"),
        ((photo, d / "mask.png", "-o", tmp_path / "x.png", "--method", "pconv"), "needs --checkpoint"),
        ((photo, d / "mask.png", "-o", tmp_path / "x.png", "--method", "pconv", "--checkpoint", d / "mask.png"), "not a PyTorch checkpoint"),
        ((photo, d / "mask.png", "-o", tmp_path / "x.png", "--method", "pconv", "--checkpoint", tmp_path / "none.pt"), "no such checkpoint"),
        ((photo, d / "mask.png", "-o", tmp_path / "x.png", "--method", "pconv", "--checkpoint", d / "sim1.pt"), "--method simk"),
        ((photo, d / "mask.png", "-o", tmp_path / "x.txt", "--method", "ns"), "image suffix"),
        ((photo, d / "mask.png", "-o", tmp_path / "x.png", "--method", "pconv", "--checkpoint", d / "pconv.pt", "--tile", "48"), "multiple of 32"),
        ((photo, d / "mask.png", "-o", tmp_path / "x.png", "--method", "telea", "--tile", "64"), "--tile applies"),
    ]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("extra", [("--aux", "random"), ("--coarse", "pconv.pt", "--allow-random-vgg")])
def test_simk_cli_saves_neighbours(work, tmp_path, extra):
    d, photo = work
    out = tmp_path / "s.png"
    extra = [d / e if e.endswith(".pt") else e for e in extra]
    result = invoke(photo, d / "mask.png", "-o", out, "--method", "simk", "--checkpoint", d / "sim1.pt",
                    "--db", d / "db", "--save-neighbours", "--device", "cpu", *extra)
    assert result.exit_code == 0, result.output
    assert out.is_file() and (tmp_path / "s.neighbour0.png").is_file()
    assert "neighbour0\t" in result.output and str(photo) not in result.output


def test_fill_image_any_size_and_tiles(work):
    d, photo = work
    model, _ = load_checkpoint(d / "pconv.pt")
    image = load_image(photo)[:100, :90]               # not a multiple of 32
    hole = np.zeros((100, 90), bool)
    hole[20:60, 10:50] = True
    whole = fill_image(model, image, hole)
    tiled = fill_image(model, image, hole, tile=64)
    for out in (whole, tiled):
        assert out.shape == image.shape and np.array_equal(out[~hole], image[~hole])
    assert np.array_equal(fill_image(model, image, np.zeros_like(hole)), image)
    with pytest.raises(ValueError, match="dtype bool"):
        fill_image(model, image, hole.astype(np.uint8))
    sim1, _ = load_checkpoint(d / "sim1.pt")
    with pytest.raises(ValueError, match="1 auxiliary"):
        fill_image(sim1, image, hole)
    assert fill_image(sim1, image, hole, aux=[load_image(photo)]).shape == image.shape


def test_fill_padding_never_reaches_the_result(work):
    """A 100x90 image is padded to 128x96 with hole pixels: what the padding holds does not matter."""
    import torch

    from inpaint.nn.vgg import denormalize, normalize_image

    d, photo = work
    model, _ = load_checkpoint(d / "pconv.pt")
    image = load_image(photo)[:100, :90]
    hole = np.zeros((100, 90), bool)
    hole[70:, 60:] = True                               # touches the padded bottom/right corner
    out = fill_image(model, image, hole)
    x = torch.randn(1, 3, 128, 96, generator=torch.Generator().manual_seed(0)) * 100   # garbage padding
    x[..., :100, :90] = torch.from_numpy(normalize_image(image))
    valid = torch.zeros(1, 1, 128, 96)
    valid[..., :100, :90] = torch.from_numpy((~hole).astype(np.float32))
    with torch.no_grad():
        pred = denormalize(model(x * valid, valid))[0, :, :100, :90].permute(1, 2, 0).numpy()
    expect = image.copy()
    expect[hole] = (pred[hole] * 255 + 0.5).clip(0, 255).astype(np.uint8)
    assert np.array_equal(out, expect)


def test_tiles_without_holes_are_skipped(work):
    d, photo = work
    model, _ = load_checkpoint(d / "pconv.pt")
    image = load_image(photo)
    hole = np.zeros(image.shape[:2], bool)
    hole[5:20, 5:20] = True                             # inside the first 64x64 window only
    calls = []
    handle = model.register_forward_hook(lambda m, a, o: calls.append(a[0].shape))
    try:
        out = fill_image(model, image, hole, tile=64)
    finally:
        handle.remove()
    assert len(calls) == 1 and np.array_equal(out[~hole], image[~hole]) and not np.array_equal(out[hole], image[hole])


def test_train_cli_smoke(photo_dir, tmp_path, work):
    d, _ = work
    run = tmp_path / "run"
    args = ["train", "--model", "sim1", "--db", d / "db", "--out", run, "--size", "32", "--max-steps", "2",
            "--batch-size", "2", "--width", "0.125", "--allow-random-vgg", "--vgg-width", "0.125", "--workers", "0",
            "--device", "cpu"]
    result = CliRunner().invoke(main, list(map(str, args)))
    assert result.exit_code == 0, result.output
    assert load_checkpoint(run / "checkpoint.pt")[1]["step"] == 2
    again = CliRunner().invoke(main, list(map(str, args)))
    assert again.exit_code == 1 and "--resume" in again.output
    bad = CliRunner().invoke(main, ["train", "--model", "pconv", "--out", str(tmp_path / "r2"), "--size", "48"])
    assert bad.exit_code == 1 and "--images" in bad.output


def test_fill_classical_checks_inputs(work):
    _, photo = work
    image = load_image(photo)
    hole = np.zeros(image.shape[:2], bool)
    hole[10:20, 10:20] = True
    for bad_image, bad_hole, message in [
        (image.astype(np.float32), hole, "dtype uint8"),
        (image[..., :2], hole, "shape"),
        (image, hole[:10], "hole of shape"),
        (image, hole.astype(np.uint8), "dtype bool"),
    ]:
        with pytest.raises(ValueError, match=message):
            fill_classical(bad_image, bad_hole)
    with pytest.raises(ValueError, match="method"):
        fill_classical(image, hole, "patchmatch")
    assert np.array_equal(fill_classical(image, np.zeros_like(hole)), image)


def test_folder_fill_where_every_pair_fails_exits_1(work, photo_dir, tmp_path):
    """Masks of another size for every photo: nothing is written, and the exit status says so (was 0,
    "wrote 0 image(s)", which a script took for success)."""
    d, _ = work
    photos, masks = _photos_and_masks(photo_dir, tmp_path, 2, d / "small.png")
    result = CliRunner().invoke(main, ["fill", str(photos), str(masks), "-o", str(tmp_path / "out"), "--method", "telea"])
    assert result.exit_code == 1, result.output
    assert "no image written" in result.output and "mask size" in result.output


def test_folder_fill_never_writes_through_a_link_inside_the_output(work, photo_dir, tmp_path):
    """`-o OUT` whose subfolder `OUT/sub` is a link to the photos' own `sub/`: the fill replaced the input photo."""
    d, _ = work
    photos, masks = _photos_and_masks(photo_dir, tmp_path, 0, d / "mask.png")
    (photos / "sub").mkdir(), (masks / "sub").mkdir()
    photo = sorted(photo_dir.glob("*"))[0]
    (photos / "sub" / f"{photo.stem}.png").write_bytes(photo.read_bytes())
    Image.open(d / "mask.png").save(masks / "sub" / f"{photo.stem}.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(photos / "sub")
    before = (photos / "sub" / f"{photo.stem}.png").read_bytes()
    result = CliRunner().invoke(main, ["fill", str(photos), str(masks), "-o", str(out), "--method", "telea"])
    assert result.exit_code == 1 and "link" in result.output, result.output
    assert (photos / "sub" / f"{photo.stem}.png").read_bytes() == before
