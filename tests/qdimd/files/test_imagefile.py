"""qdimd.files.imagefile: images read as displayed, at any bit depth; every failure an InputError (issue 18)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from badimages import save_bomb_png, save_exif_rotated_jpeg, save_png16_gray, save_png16_rgb, truncate
from inpaint.images import load_image
from inpaint.training.photos import decode_photo
from qdimd.errors import InputError
from qdimd.files.imagefile import open_image, read_gray8, to_gray8, to_rgb8
from qdimd.io import load_gray


def _ramp(h: int = 32, w: int = 48) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) * 255 // (h * w - 1)).astype(np.uint8)


def test_16_bit_grey_png_is_scaled_not_white(tmp_path):
    gray = _ramp()
    save_png16_gray(tmp_path / "g16.png", gray)
    assert np.array_equal(read_gray8(tmp_path / "g16.png"), gray)
    hole = np.zeros((32, 48), np.uint8)
    hole[5:20, 10:30] = 255
    save_png16_gray(tmp_path / "m16.png", hole)
    assert np.array_equal(load_gray(tmp_path / "m16.png"), hole)  # masks too
    photo = load_image(tmp_path / "g16.png")
    assert photo.shape == (32, 48, 3) and np.array_equal(photo[..., 0], gray)   # was all 255 before
    assert np.abs(decode_photo(tmp_path / "g16.png", (32, 48))[..., 1].astype(int) - gray).max() <= 1


def test_16_bit_rgb_png_keeps_its_colours(tmp_path):
    rgb = np.stack([_ramp(), 255 - _ramp(), np.full((32, 48), 77, np.uint8)], -1)
    save_png16_rgb(tmp_path / "c16.png", rgb)
    assert np.array_equal(load_image(tmp_path / "c16.png"), rgb)


@pytest.mark.parametrize("mode", ["I", "F"])
def test_32_bit_integer_and_float_images_are_scaled(mode):
    gray = _ramp()
    values = gray.astype(np.int32) * 257 if mode == "I" else gray.astype(np.float32) / 255
    assert np.abs(np.asarray(to_gray8(Image.fromarray(values))).astype(int) - gray).max() <= 1


def test_exif_orientation_is_applied_by_every_reader(tmp_path):
    shown = np.zeros((40, 64, 3), np.uint8)
    shown[:, :16] = 255   # a white band on the left as displayed
    save_exif_rotated_jpeg(tmp_path / "e6.jpg", shown)
    assert Image.open(tmp_path / "e6.jpg").size == (40, 64)   # stored on its side
    photo = load_image(tmp_path / "e6.jpg")
    assert photo.shape == (40, 64, 3) and photo[:, :12].min() > 200 and photo[:, 20:].max() < 60
    assert load_gray(tmp_path / "e6.jpg").shape == (40, 64)
    assert load_image(tmp_path / "e6.jpg", (20, 32)).shape == (20, 32, 3)
    # the training loader's draft (DCT-scaled) decoding, at 1/2 scale and at full size
    for size in ((20, 32), (40, 64)):
        crop = decode_photo(tmp_path / "e6.jpg", size)
        w = size[1]
        assert crop.shape == (*size, 3) and crop[:, : w // 5].min() > 200 and crop[:, w // 2:].max() < 60


def test_transparency_is_composited_over_black_and_palette_cmyk_modes_read():
    alpha = np.zeros((8, 8), np.uint8)
    alpha[2:5, 2:5] = 255
    rgba = Image.merge("RGBA", [Image.new("L", (8, 8), 255)] * 3 + [Image.fromarray(alpha)])
    assert np.array_equal(np.asarray(to_gray8(rgba)), alpha)   # opaque white on a transparent layer = holes
    la = Image.merge("LA", [Image.new("L", (8, 8), 255), Image.fromarray(alpha)])
    assert np.array_equal(np.asarray(to_gray8(la)), alpha)
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:, 4:] = (200, 30, 60)
    for im in (Image.fromarray(rgb).convert("P"), Image.fromarray(rgb).convert("CMYK"), Image.fromarray(rgb).convert("1")):
        out = to_rgb8(im)
        assert out.mode == "RGB" and out.size == (8, 8)
    assert np.array_equal(np.asarray(to_rgb8(Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE))), rgb)


@pytest.mark.parametrize("case, message", [
    ("empty", "empty file"), ("folder", "a folder, not an image file"), ("text", "not a readable image"),
    ("truncated_png", "not a readable image"), ("truncated_jpg", "not a readable image"), ("missing", "no such file"),
])
def test_bad_files_raise_input_errors_naming_them(tmp_path, case, message):
    path = tmp_path / f"{case}.png"
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    if case == "empty":
        path.write_bytes(b"")
    elif case == "folder":
        path.mkdir()
    elif case == "text":
        path.write_text("not an image")
    elif case == "truncated_png":
        Image.fromarray(noise).save(path)
        truncate(path)
    elif case == "truncated_jpg":
        path = tmp_path / "t.jpg"
        Image.fromarray(noise).save(path, quality=95)
        truncate(path)
    for reader in (load_image, read_gray8, load_gray, lambda p: decode_photo(p, (16, 16))):
        with pytest.raises(InputError, match=message) as info:
            reader(path)
        assert str(info.value).startswith(str(path))


def test_a_decompression_bomb_is_an_input_error(tmp_path):
    path = save_bomb_png(tmp_path / "bomb.png")
    for reader in (load_image, load_gray, lambda p: decode_photo(p, (16, 16))):
        with pytest.raises(InputError, match="bomb.png: too large to decode safely"):
            reader(path)


def test_one_by_one_images_read(tmp_path):
    Image.new("L", (1, 1), 255).save(tmp_path / "one.png")
    assert load_image(tmp_path / "one.png").shape == (1, 1, 3)
    assert load_image(tmp_path / "one.png", (16, 16)).shape == (16, 16, 3)
    assert load_gray(tmp_path / "one.png").shape == (1, 1)


def test_open_image_converts_errors_raised_inside_the_block(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(tmp_path / "x.png")
    truncate(tmp_path / "x.png")
    with open_image(tmp_path / "x.png") as im:   # the header reads
        assert im.size == (64, 64)
    with pytest.raises(InputError, match="x.png: not a readable image .*truncated"):
        with open_image(tmp_path / "x.png") as im:
            im.load()


def test_mask_folder_reads_16_bit_and_rotated_masks_and_skips_a_truncated_one(tmp_path):
    from qdimd.files.folder import MaskFiles

    hole = np.zeros((32, 48), np.uint8)
    hole[4:12, 6:30] = 255
    save_png16_gray(tmp_path / "a16.png", hole)
    save_exif_rotated_jpeg(tmp_path / "b6.jpg", np.repeat(hole[..., None], 3, 2))
    Image.fromarray(np.random.default_rng(0).integers(0, 2, (32, 48), dtype=np.uint8) * 255).save(tmp_path / "c.png")
    truncate(tmp_path / "c.png", 0.5)
    save_bomb_png(tmp_path / "d.png")
    masks = MaskFiles(tmp_path, size=None, hole_value=255)
    assert np.array_equal(masks.hole(0), hole > 0)
    assert np.mean(masks.hole(1) == (hole > 0)) > 0.97   # JPEG edges aside, as displayed
    with pytest.warns(UserWarning) as caught:
        assert np.array_equal(masks.sample(2), hole > 0)   # c and d skipped: the next readable file, a16
    messages = " ".join(str(w.message) for w in caught)
    assert "c.png: not a readable image" in messages and "d.png: too large to decode safely" in messages
