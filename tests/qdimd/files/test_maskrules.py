"""qdimd.files.maskrules: one rule for what is a mask and one for an inverted polarity, in every command (issue 18)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from helpers import rect_hole
from inpaint.evaluation.pairing import read_split
from inpaint.fill.files import check_fill_polarity, load_pair
from qdimd.errors import InputError, ProblemLog
from qdimd.files.folder import MaskFiles
from qdimd.files.maskfiles import decode_gray
from qdimd.files.maskrules import POLARITY_LIMIT, mask_problem, polarity_warning, sample_hole_ratios
from qdimd.io import load_gray
from qdimd.sets.measure import measure_masks


def stroke_mask(size: int = 512, seed: int = 0) -> np.ndarray:
    """A binary stroke mask (255 = hole) of thick random lines, about 10-30% hole."""
    rng = np.random.default_rng(seed)
    canvas = np.zeros((size, size), np.uint8)
    for _ in range(20):
        p, q = rng.integers(size // 8, size - size // 8, (2, 2))
        cv2.line(canvas, tuple(map(int, p)), tuple(map(int, q)), 255, size // 48)
    return canvas


def anti_aliased(mask: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(mask).resize((size, size), Image.BOX))


def blurred(mask: np.ndarray, radius: float) -> np.ndarray:
    return np.asarray(Image.fromarray(mask).filter(ImageFilter.GaussianBlur(radius)))


@pytest.fixture(scope="module")
def photo_gray(photo_dir) -> np.ndarray:
    return np.asarray(Image.open(sorted(photo_dir.glob("*"))[0]).convert("L"))


@pytest.mark.parametrize("seed", range(4))
def test_anti_aliased_masks_at_64_px_and_lightly_blurred_masks_are_masks(seed):
    mask = stroke_mask(seed=seed)
    small = anti_aliased(mask, 64)
    assert np.count_nonzero((small >= 32) & (small < 224)) > 0.1 * small.size   # refused before (the old midtone rule)
    assert mask_problem(small) is None
    assert mask_problem(blurred(mask, 2)) is None
    assert mask_problem(mask) is None


def test_photos_and_heavily_blurred_masks_are_not(photo_gray, photo_dir):
    assert "not a mask" in mask_problem(photo_gray)
    assert "not a mask" in mask_problem(np.asarray(Image.fromarray(photo_gray).resize((64, 64), Image.BOX)))
    assert "blurred" in mask_problem(blurred(stroke_mask(), 12))
    rgb = np.asarray(Image.open(sorted(photo_dir.glob("*"))[3]).convert("RGB"))
    assert mask_problem(np.asarray(Image.fromarray(rgb).convert("L")), rgb) is not None


def test_every_command_accepts_and_refuses_the_same_files(tmp_path, photo_gray):
    """bucket --from (measure_masks / decode_gray), eval (read_split), train (MaskFiles), fill (load_pair)."""
    good = tmp_path / "good"
    good.mkdir()
    for seed in range(3):
        Image.fromarray(anti_aliased(stroke_mask(seed=seed), 64)).save(good / f"aa{seed}.png")
    Image.fromarray(blurred(anti_aliased(stroke_mask(seed=5), 256), 1)).save(good / "blur.png")
    bad = tmp_path / "bad"
    bad.mkdir()
    Image.fromarray(photo_gray).save(bad / "photo.png")
    Image.fromarray(blurred(stroke_mask(), 12)).save(bad / "heavy.png")
    problems = ProblemLog()
    pairs, _, _ = measure_masks(good, hole_value=255, problems=problems)
    assert len(pairs) == 4 and not problems
    problems = ProblemLog()
    read_split(good, problems=problems)
    assert not problems
    assert len(MaskFiles(good, size=64, hole_value=255)) == 4 and MaskFiles(good, size=64).sample(0).any()
    photo = np.zeros((64, 64, 3), np.uint8)
    Image.fromarray(photo).save(tmp_path / "p.png")
    assert load_pair(tmp_path / "p.png", good / "aa0.png")[1].any()
    for path in sorted(bad.iterdir()):
        for reader in (load_gray, lambda p: decode_gray(p.read_bytes(), str(p))):
            with pytest.raises(InputError, match="not a mask"):
                reader(path)
        problems = ProblemLog()
        with pytest.raises(InputError, match="no readable mask"):
            measure_masks(path, problems=problems)
        assert "not a mask" in problems.summary()


def test_polarity_warning_rule():
    assert polarity_warning("m", [0.1, 0.2, 0.3], 255) is None
    assert polarity_warning("m", [0.55, 0.59, 0.6], 255) is None     # NVIDIA's last bucket stays quiet
    message = polarity_warning("masks/", [0.7, 0.8, 0.9, 0.1], 255)
    assert message.startswith("masks/:") and "--hole-value 0" in message and "75%" in message
    assert "--hole-value 255" in polarity_warning("m", [0.9], 0)
    assert polarity_warning("m", [], 255) is None and POLARITY_LIMIT == 0.6


def test_strict_makes_the_polarity_warning_an_error():
    problems = ProblemLog()
    problems.warn("x: inverted?")
    assert problems and len(problems) == 0 and problems.summary() == "warning: x: inverted?"
    with pytest.raises(InputError, match="x: inverted"):
        ProblemLog(strict=True).warn("x: inverted?")


def _inverted_folder(root):
    root.mkdir()
    for i, ratio in enumerate((0.1, 0.2, 0.3, 0.15)):
        Image.fromarray(np.where(rect_hole(64, ratio, 8), 0, 255).astype(np.uint8)).save(root / f"{i}.png")
    return root


def test_an_inverted_mask_folder_is_flagged_by_eval_fill_and_bucket(tmp_path):
    masks = _inverted_folder(tmp_path / "inv")    # black holes, read with white holes: 70-90% "hole"
    assert sorted(sample_hole_ratios(sorted(masks.iterdir()), 255))[0] > 0.6
    problems = ProblemLog()
    with pytest.raises(InputError):   # every mask falls out of the buckets
        read_split(masks, hole_value=255, problems=problems)
    assert "--hole-value 0" in problems.summary() and str(masks) in problems.summary()
    problems = ProblemLog()
    assert len(read_split(masks, hole_value=0, problems=problems)[0]) == 4 and not problems
    problems = ProblemLog()
    triples = [(masks / "0.png", p, tmp_path / "o.png") for p in sorted(masks.iterdir())]
    check_fill_polarity(triples, masks, 255, problems)
    assert problems.warnings and "--hole-value 0" in problems.warnings[0]
    with pytest.raises(InputError, match="--hole-value 0"):
        check_fill_polarity(triples, masks, 255, ProblemLog(strict=True))
    with pytest.raises(InputError, match="--hole-value 0"):
        measure_masks(masks, hole_value=255, problems=ProblemLog(strict=True))
    problems = ProblemLog()
    measure_masks(masks, hole_value="auto", problems=problems)   # auto picks black holes: quiet
    assert not problems
