"""``inpaint eval`` against hostile or changed inputs: resumed runs on changed folders, untrusted manifests,
report folders that are (or hold, or lie inside) an input."""
from __future__ import annotations

import csv
import os
import shutil

import pytest
from click.testing import CliRunner

from cli.inpaint_main import main
from inpaint.evaluation.evaluate import PER_IMAGE, EvalConfig, evaluate_methods, plan_evaluation, run_evaluation
from inpaint.evaluation.pairing import read_split
from inpaint.images import find_images
from qdimd.buckets import bucket_range
from qdimd.errors import InputError, ProblemLog
from qdimd.sets.sorting import sort_masks

from helpers import rect_hole, read_manifest, save_gray


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """A `qdimd bucket --from` split of 128 px rectangle masks: 2 per (bucket, group)."""
    root = tmp_path_factory.mktemp("eval-inputs")
    for bucket in range(1, 7):
        lo, hi = bucket_range(bucket)
        for k, (group, distance) in enumerate([("noborder", 20), ("noborder", 21), ("border", 0), ("border", 1)]):
            hole = rect_hole(128, lo + (hi - lo) * (0.3 + 0.1 * k), distance)
            save_gray(root / "masks" / f"b{bucket}_{k}_{group}.png", hole.astype("uint8") * 255)
    sort_masks(root / "masks", root / "split", hole_value=255, problems=ProblemLog())
    return root / "split"


def _config(images, masks, out, **kw) -> EvalConfig:
    return EvalConfig(str(images), str(masks), ("identity",), str(out), metrics=("l1", "psnr"), batch_size=1, **kw)


def _interrupted(config, pairs: int) -> None:
    run = run_evaluation(plan_evaluation(config))
    for _ in range(pairs):
        next(run)
    run.close()


@pytest.mark.parametrize("change", ["add", "remove", "edit"])
def test_resume_on_changed_photos_is_refused_never_mixed(split, photo_dir, copy_photos, tmp_path, change):
    photos = copy_photos(tmp_path / "photos", 6)
    config = _config(photos, split, tmp_path / "report")
    _interrupted(config, 3)
    rows = (tmp_path / "report" / PER_IMAGE).read_text()
    if change == "add":
        for path in find_images(photo_dir)[6:9]:
            shutil.copy(path, photos / path.name)
    elif change == "remove":
        for path in sorted(photos.iterdir())[:3]:
            path.unlink()
    else:  # the same names, other pixels
        first, second = sorted(photos.iterdir())[:2]
        first.write_bytes(second.read_bytes())
    with pytest.raises(InputError, match="computed on other photos or masks") as info:
        plan_evaluation(config)
    assert "new --out" in str(info.value)
    assert (tmp_path / "report" / PER_IMAGE).read_text() == rows  # nothing mixed in


def test_resume_on_the_same_inputs_matches_a_fresh_run(split, copy_photos, tmp_path):
    photos = copy_photos(tmp_path / "photos", 6)
    config = _config(photos, split, tmp_path / "resumed")
    _interrupted(config, 3)
    evaluate_methods(config)
    evaluate_methods(_config(photos, split, tmp_path / "fresh"))
    resumed, fresh = ((tmp_path / name / PER_IMAGE).read_text() for name in ("resumed", "fresh"))
    assert resumed == fresh and len(resumed.splitlines()) == 1 + 24


def test_resume_on_changed_masks_is_refused(split, copy_photos, tmp_path):
    photos = copy_photos(tmp_path / "photos", 6)
    masks = tmp_path / "split"
    shutil.copytree(split, masks, symlinks=True)
    config = _config(photos, masks, tmp_path / "report")
    _interrupted(config, 2)
    rows = read_manifest(masks)
    with open(masks / "manifest.csv", "w", newline="") as f:  # a mask dropped from the split
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[1:])
    with pytest.raises(InputError, match="computed on other photos or masks"):
        plan_evaluation(config)


def _with_row(split, tmp_path, change) -> tuple:
    masks = tmp_path / "split"
    shutil.copytree(split, masks, symlinks=True)
    rows = read_manifest(masks)
    line = 2 + 3
    change(rows[3])
    with open(masks / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return masks, line


@pytest.mark.parametrize("trick", ["absolute", "dotdot"])
def test_manifest_paths_are_confined_to_the_split(split, tmp_path, trick):
    outside = tmp_path / "outside.png"
    shutil.copy(split / read_manifest(split)[3]["file"], outside)
    name = str(outside) if trick == "absolute" else "../outside.png"
    masks, line = _with_row(split, tmp_path, lambda row: row.update(file=name))
    with pytest.raises(InputError, match=f"manifest.csv:{line}: expected a relative path inside"):
        read_split(masks, problems=ProblemLog())


def test_manifest_bucket_claims_are_checked_against_the_pixels(split, copy_photos, tmp_path):
    def claim_other_bucket(row):
        row["bucket"] = str(int(row["bucket"]) % 6 + 1)

    masks, line = _with_row(split, tmp_path, claim_other_bucket)
    problems = ProblemLog()
    entries, _ = read_split(masks, problems=problems)
    bad = read_manifest(masks)[3]
    assert bad["file"] not in {e.file for e in entries} and len(entries) == len(read_manifest(split)) - 1
    assert len(problems) == 1 and f"manifest.csv:{line}: {bad['file']}: the row claims bucket {bad['bucket']}" in problems.summary()
    with pytest.raises(InputError, match="its pixels give bucket"):  # strict by default
        read_split(masks)
    photos = copy_photos(tmp_path / "photos", 4)
    result = CliRunner().invoke(main, ["eval", "--images", str(photos), "--masks", str(masks), "--method", "identity",
                                       "--metric", "l1", "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "its pixels give bucket" in result.output
    scored = {row["mask"] for row in csv.DictReader(open(tmp_path / "report" / PER_IMAGE))}
    assert bad["file"] not in scored


@pytest.mark.parametrize("where", ["images", "masks", "inside-images", "holds-masks", "foreign"])
def test_report_folder_that_is_an_input_is_refused_before_any_work(split, copy_photos, tmp_path, where):
    photos = copy_photos(tmp_path / "photos", 4)
    masks = tmp_path / "work" / "split"
    shutil.copytree(split, masks, symlinks=True)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "report.md").write_text("my notes")
    out = {"images": photos, "masks": masks, "inside-images": photos / "report", "holds-masks": tmp_path / "work",
           "foreign": tmp_path / "notes"}[where]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = CliRunner().invoke(main, ["eval", "--images", str(photos), "--masks", str(masks), "--method", "identity",
                                       "--metric", "l1", "--out", str(out)])
    assert result.exit_code == 1
    assert ("not an inpaint eval report folder" if where == "foreign" else "input") in result.output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "notes" / "report.md").read_text() == "my notes"
    assert not os.path.exists(photos / "report")


def test_resume_never_appends_or_truncates_through_a_link(split, copy_photos, tmp_path):
    photos = copy_photos(tmp_path / "photos", 4)
    config = _config(photos, split, tmp_path / "report")
    _interrupted(config, 1)
    victim = tmp_path / "victim.csv"
    victim.write_text("precious, no newline at the end")
    (tmp_path / "report" / PER_IMAGE).unlink()
    (tmp_path / "report" / PER_IMAGE).symlink_to(victim)
    with pytest.raises(InputError, match="symbolic link"):
        plan_evaluation(config)
    assert victim.read_text() == "precious, no newline at the end"


def test_a_run_that_fails_before_its_first_row_is_resumed_not_taken_for_a_foreign_folder(split, copy_photos, tmp_path,
                                                                                          monkeypatch):
    """A full disk while the record files are made (grid_parts/ already there): the rerun continues in that
    folder instead of refusing it as 'not an inpaint eval report folder' (run.json is written first)."""
    import errno

    from inpaint.evaluation import evaluate as evaluate_module

    photos = copy_photos(tmp_path / "photos", 2)
    config = _config(photos, split, tmp_path / "report", limit=1)

    def full_disk(out, config):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / PER_IMAGE))

    with monkeypatch.context() as m:
        m.setattr(evaluate_module, "_recover_rows", full_disk)
        with pytest.raises(OSError):
            plan_evaluation(config)
    assert (tmp_path / "report" / "grid_parts").is_dir()
    evaluate_methods(config)
    assert len((tmp_path / "report" / PER_IMAGE).read_text().splitlines()) == 1 + 12


@pytest.mark.parametrize("text", [b"{truncated", b"[1, 2]"])
def test_a_damaged_run_record_is_named(split, copy_photos, tmp_path, text):
    """A run.json that is no JSON object (damaged, hand-edited): an InputError naming the file, not a bare JSON
    decoder message or an AttributeError traceback."""
    photos = copy_photos(tmp_path / "photos", 2)
    config = _config(photos, split, tmp_path / "report", limit=1)
    _interrupted(config, 1)
    (tmp_path / "report" / "run.json").write_bytes(text)
    with pytest.raises(InputError, match="run.json: not an inpaint eval run record"):
        plan_evaluation(config)
