"""Hostile and unlucky image files on every command (issue 18, points 3, 7 and the mask rule of 8).

A truncated photo or mask, a decompression bomb, a zero-byte file, a folder named ``*.png`` and
text named ``*.jpg`` are skipped and reported by folder commands and a clean error for single
files; 16-bit and EXIF-rotated files are read as displayed; an inverted mask folder is flagged.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from badimages import save_bomb_png, save_exif_rotated_jpeg, save_png16_gray, save_png16_rgb, truncate
from helpers import rect_hole
from inpaint.images import find_images, load_image
from qdimd_cli.inpaint_main import main as inpaint
from qdimd_cli.qdimd_main import main as qdimd

pytestmark = pytest.mark.filterwarnings("ignore:Using a randomly initialised VGG-16", "ignore:.*random.*weights")

BAD = ("zz_truncated.jpg", "zz_bomb.png", "zz_empty.png", "zz_text.jpg")
"""The unreadable files :func:`add_bad_files` writes (sorted last); a folder named ``zz_dir.png`` is never a file."""


def add_bad_files(folder: Path, source: Path) -> None:
    """Unreadable files next to good ones: a truncated JPEG (its header reads), a 30000x30000 bomb header,
    an empty file, text named .jpg, and a folder named .png."""
    shutil.copy(source, folder / BAD[0])
    truncate(folder / BAD[0], 0.5)
    save_bomb_png(folder / BAD[1])
    (folder / BAD[2]).write_bytes(b"")
    (folder / BAD[3]).write_text("not an image")
    (folder / "zz_dir.png").mkdir()


def as_16_bit_and_rotated(src: Path, dst: Path) -> Path:
    """``src``'s photos rewritten: even ones as 16-bit RGB or grey PNGs, odd ones as EXIF-6 JPEGs (lossless
    PNGs are compared exactly; JPEGs approximately)."""
    dst.mkdir()
    for i, path in enumerate(find_images(src)):
        rgb = load_image(path)
        if i % 3 == 0:
            save_png16_rgb(dst / f"{path.stem}.png", rgb)
        elif i % 3 == 1:
            save_png16_gray(dst / f"{path.stem}.png", rgb[..., 0])
        else:
            save_exif_rotated_jpeg(dst / f"{path.stem}.jpg", rgb)
    return dst


def eight_bit_twin(folder16: Path, dst: Path) -> Path:
    """The same photos as plain 8-bit files: what the 16-bit and rotated ones must read as."""
    dst.mkdir()
    for path in find_images(folder16):
        Image.fromarray(load_image(path)).save(dst / f"{path.stem}.png")
    return dst


def _photos(copy_photos, tmp_path, n=6):
    return copy_photos(tmp_path / "photos", n)


def test_fill_folder_skips_bad_files_and_reads_16_bit_and_rotated_photos(copy_photos, tmp_path):
    photos = as_16_bit_and_rotated(_photos(copy_photos, tmp_path), tmp_path / "odd")
    twin = eight_bit_twin(photos, tmp_path / "twin")
    masks = tmp_path / "masks"
    masks.mkdir()
    for path in find_images(photos):
        Image.fromarray(rect_hole(128, 0.1, 30).astype(np.uint8) * 255).save(masks / f"{path.stem}.png")
    add_bad_files(photos, find_images(tmp_path / "photos")[0])
    for name in BAD:
        shutil.copy(masks / f"{find_images(tmp_path / 'photos')[0].stem}.png", masks / f"{Path(name).stem}.png")
    result = CliRunner().invoke(inpaint, ["fill", str(photos), str(masks), "-o", str(tmp_path / "out"), "--method", "telea"])
    assert result.exit_code == 0, result.output
    assert "wrote 6 image(s)" in result.output and "skipped 4" in result.output
    for name in BAD:
        assert name in result.output
    assert "too large to decode safely" in result.output and "empty file" in result.output
    # the 16-bit and rotated photos read as their 8-bit twins: same fill outside the holes
    for path in find_images(twin):
        out = load_image(tmp_path / "out" / path.name)
        hole = rect_hole(128, 0.1, 30)
        assert np.abs(out[~hole].astype(int) - load_image(path)[~hole]).max() <= 1, path.name


@pytest.mark.parametrize("name", BAD + ("zz_dir.png",))
def test_fill_of_one_bad_file_is_a_clean_error(copy_photos, tmp_path, name):
    photos = _photos(copy_photos, tmp_path, 1)
    add_bad_files(photos, find_images(photos)[0])
    Image.fromarray(rect_hole(128, 0.1, 30).astype(np.uint8) * 255).save(tmp_path / "m.png")
    result = CliRunner().invoke(inpaint, ["fill", str(photos / name), str(tmp_path / "m.png"), "-o", str(tmp_path / "o.png"),
                                          "--method", "telea"])
    assert result.exit_code != 0 and name in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_fill_warns_about_an_inverted_mask_and_strict_stops(copy_photos, tmp_path):
    photo = find_images(_photos(copy_photos, tmp_path, 1))[0]
    Image.fromarray(np.where(rect_hole(128, 0.15, 30), 0, 255).astype(np.uint8)).save(tmp_path / "m.png")  # black holes
    args = ["fill", str(photo), str(tmp_path / "m.png"), "-o", str(tmp_path / "o.png"), "--method", "telea"]
    result = CliRunner().invoke(inpaint, args)
    assert result.exit_code == 0 and "warning:" in result.output and "--hole-value 0" in result.output
    result = CliRunner().invoke(inpaint, args + ["--strict"])
    assert result.exit_code == 1 and "--hole-value 0" in result.output
    assert CliRunner().invoke(inpaint, args + ["--hole-value", "0", "--strict"]).exit_code == 0


def _per_image(out: Path) -> dict[tuple[str, str], tuple[str, ...]]:
    rows = csv.DictReader(open(out / "per_image.csv"))
    return {(Path(r["image"]).stem, r["mask"]): (r["l1"], r["psnr"]) for r in rows}


def test_eval_skips_truncated_and_bomb_photos_up_front_and_reads_16_bit(copy_photos, tmp_path):
    split = tmp_path / "split"
    split.mkdir()
    for i, (ratio, distance) in enumerate(((0.05, 30), (0.15, 0), (0.25, 40))):
        Image.fromarray(rect_hole(128, ratio, distance).astype(np.uint8) * 255).save(split / f"{i}.png")
    photos = as_16_bit_and_rotated(_photos(copy_photos, tmp_path), tmp_path / "odd")
    twin = eight_bit_twin(photos, tmp_path / "twin")
    add_bad_files(photos, find_images(tmp_path / "photos")[0])
    (photos / "a_truncated.jpg").write_bytes((photos / BAD[0]).read_bytes())  # sorted first: paired everywhere
    base = ["eval", "--masks", str(split), "--method", "identity", "--metric", "l1", "--metric", "psnr"]
    result = CliRunner().invoke(inpaint, [*base, "--images", str(photos), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "skipped 5" in result.output and "a_truncated.jpg" in result.output and "zz_bomb.png" in result.output
    result = CliRunner().invoke(inpaint, [*base, "--images", str(twin), "--out", str(tmp_path / "r8")])
    assert result.exit_code == 0, result.output
    assert _per_image(tmp_path / "r") == _per_image(tmp_path / "r8")


def test_eval_warns_about_an_inverted_mask_folder(copy_photos, tmp_path):
    masks = tmp_path / "inv"
    masks.mkdir()
    for i, ratio in enumerate((0.1, 0.2, 0.3, 0.25, 0.05)):
        Image.fromarray(np.where(rect_hole(128, ratio, 20), 0, 255).astype(np.uint8)).save(masks / f"{i}.png")
    base = ["eval", "--masks", str(masks), "--method", "identity", "--metric", "l1", "--images",
            str(_photos(copy_photos, tmp_path, 2))]
    result = CliRunner().invoke(inpaint, [*base, "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "--hole-value 0" in result.output   # nothing left in a bucket, and why
    result = CliRunner().invoke(inpaint, [*base, "--out", str(tmp_path / "r0"), "--hole-value", "0", "--strict"])
    assert result.exit_code == 0, result.output


def test_bucket_from_reads_anti_aliased_16_bit_and_rotated_masks_and_skips_bad_ones(tmp_path):
    src = tmp_path / "masks"
    src.mkdir()
    big = np.zeros((512, 512), np.uint8)
    big[100:300, 150:260] = 255
    big[350:360, 40:470] = 255
    Image.fromarray(big).resize((64, 64), Image.BOX).save(src / "aa64.png")   # anti-aliased at 64 px
    save_png16_gray(src / "m16.png", big)
    shown = np.zeros((64, 96), np.uint8)
    shown[10:30, 10:50] = 255
    save_exif_rotated_jpeg(src / "e6.jpg", np.repeat(shown[..., None], 3, 2))
    add_bad_files(src, src / "m16.png")
    result = CliRunner().invoke(qdimd, ["bucket", "--out", str(tmp_path / "out"), "--from", str(src)])
    assert result.exit_code == 0, result.output
    rows = {r["source"].rsplit("/", 1)[-1]: r for r in csv.DictReader(open(tmp_path / "out" / "manifest.csv"))}
    assert set(rows) == {"aa64.png", "m16.png", "e6.jpg"}
    assert (rows["e6.jpg"]["height"], rows["e6.jpg"]["width"]) == ("64", "96")
    assert abs(float(rows["m16.png"]["hole_ratio"]) - (big > 0).mean()) < 1e-9
    assert "skipped 4" in result.output and "too large to decode safely" in result.output
    stats = CliRunner().invoke(qdimd, ["stats", str(src), "--histogram", str(tmp_path / "h.png")])
    assert stats.exit_code == 0 and "skipped 4" in stats.output
    preview = CliRunner().invoke(qdimd, ["preview", str(src), "--out", str(tmp_path / "sheet.png")])
    assert preview.exit_code == 0 and "zz_bomb.png" in preview.output, preview.output


def test_bucket_from_warns_about_an_inverted_folder(tmp_path):
    src = tmp_path / "inv"
    src.mkdir()
    for i, ratio in enumerate((0.1, 0.2, 0.3)):
        Image.fromarray(np.where(rect_hole(64, ratio, 0), 0, 255).astype(np.uint8)).save(src / f"{i}.png")
    result = CliRunner().invoke(qdimd, ["bucket", "--out", str(tmp_path / "out"), "--from", str(src), "--hole-value", "255"])
    assert result.exit_code == 0 and "warning:" in result.output and "--hole-value 0" in result.output
    result = CliRunner().invoke(qdimd, ["bucket", "--out", str(tmp_path / "o2"), "--from", str(src), "--hole-value", "255", "--strict"])
    assert result.exit_code == 1 and "--hole-value 0" in result.output


def test_index_skips_truncated_and_bomb_photos_and_query_of_a_bomb_is_clean(copy_photos, tmp_path):
    photos = _photos(copy_photos, tmp_path, 4)
    add_bad_files(photos, find_images(photos)[0])
    tiny = ["--vgg-width", "0.0625", "--size", "64", "--batch-size", "4", "--allow-random-vgg"]
    result = CliRunner().invoke(inpaint, ["index", "--images", str(photos), "--out", str(tmp_path / "db"), *tiny])
    assert result.exit_code == 0, result.output
    assert "skipped 4" in result.output and "zz_truncated.jpg" in result.output and "too large" in result.output
    result = CliRunner().invoke(inpaint, ["query", str(tmp_path / "db"), str(photos / BAD[1]), "--k", "1", "--allow-random-vgg"])
    assert result.exit_code == 1 and "too large to decode safely" in result.output and "Traceback" not in result.output


def test_train_warns_about_inverted_masks_and_strict_stops(photo_dir, tmp_path):
    masks = tmp_path / "inv"
    masks.mkdir()
    for i, ratio in enumerate((0.1, 0.2, 0.3)):
        Image.fromarray(np.where(rect_hole(32, ratio, 4), 0, 255).astype(np.uint8)).save(masks / f"{i}.png")
    tiny = ["--model", "pconv", "--size", "32", "--width", "0.125", "--batch-size", "2", "--allow-random-vgg",
            "--vgg-width", "0.125", "--workers", "0", "--device", "cpu", "--max-steps", "1", "--masks", str(masks)]
    result = CliRunner().invoke(inpaint, ["train", "--images", str(photo_dir), "--out", str(tmp_path / "r"), *tiny, "--strict"])
    assert result.exit_code == 1 and "--hole-value 0" in result.output and str(masks) in result.output
    result = CliRunner().invoke(inpaint, ["train", "--images", str(photo_dir), "--out", str(tmp_path / "r2"), *tiny])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "--hole-value 0" in result.output


def test_fill_takes_a_mask_drawn_on_an_exif_rotated_photo_as_displayed(copy_photos, tmp_path):
    rgb = load_image(find_images(_photos(copy_photos, tmp_path, 1))[0])[:, :96]   # 128 high, 96 wide as displayed
    save_exif_rotated_jpeg(tmp_path / "e6.jpg", rgb)
    assert Image.open(tmp_path / "e6.jpg").size == (128, 96)   # stored 128 wide, 96 high
    hole = np.zeros((128, 96), np.uint8)
    hole[40:60, 30:50] = 255
    Image.fromarray(hole).save(tmp_path / "m.png")
    result = CliRunner().invoke(inpaint, ["fill", str(tmp_path / "e6.jpg"), str(tmp_path / "m.png"), "-o",
                                          str(tmp_path / "o.png"), "--method", "telea"])
    assert result.exit_code == 0, result.output
    out = load_image(tmp_path / "o.png")
    assert out.shape == (128, 96, 3) and np.abs(out[:30].astype(int) - rgb[:30]).mean() < 4


def test_tiff_photos_are_read_by_index_as_by_fill(copy_photos, tmp_path):
    """`inpaint fill` took .tif photos (its folder listing is the masks' suffixes) while index, train and eval
    skipped them without a word: one list of photo suffixes now."""
    photos = _photos(copy_photos, tmp_path, 2)
    first = find_images(photos)[0]
    with Image.open(first) as im:
        im.save(photos / "scan.tif")
    tiny = ["--vgg-width", "0.0625", "--size", "64", "--batch-size", "4", "--allow-random-vgg"]
    result = CliRunner().invoke(inpaint, ["index", "--images", str(photos), "--out", str(tmp_path / "db"), *tiny])
    assert result.exit_code == 0, result.output
    assert "3 images" in result.output
