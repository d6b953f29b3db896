"""``inpaint pairs`` fed hostile and unlucky output folders (issue 18, last pass): a foreign folder, linked layout
folders, reruns after the inputs changed."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import nvidia_style_folder, pairs_cli

from cli.inpaint_main import main
from inpaint.evaluation.export_pairs import LAYOUT, read_pairs_manifest


@pytest.fixture(scope="module")
def masks(tmp_path_factory) -> Path:
    return nvidia_style_folder(tmp_path_factory.mktemp("masks"), per_group=1)


def _pairs(photos: Path, masks: Path, out: Path):
    return CliRunner().invoke(main, ["pairs", "--images", str(photos), "--masks", str(masks), "--out", str(out),
                                     "--size", "64"])


def _files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for folder in LAYOUT for p in (out / folder).iterdir()}


def test_rerun_after_a_photo_was_removed_leaves_no_stale_pair(copy_photos, masks, tmp_path):
    """A rerun writes the new pairs and removes the files of pairs that no longer exist: LaMa and MAT read every
    file of their folder, so a stale pair would be predicted and scored."""
    photos = copy_photos(tmp_path / "photos", 12)
    out = pairs_cli(photos, masks, tmp_path / "p")
    before = _files(out)
    removed = sorted(photos.iterdir())[0]
    removed.unlink()
    pairs_cli(photos, masks, out)
    stems = {r["stem"] for r in read_pairs_manifest(out)}
    assert not any(removed.stem in s for s in stems)
    after = _files(out)
    assert {name.split("/")[1].removesuffix(".png").removesuffix("_mask000") for name in after} == stems
    assert after != before


def test_rerun_keeps_user_files_in_the_layout_folders(copy_photos, masks, tmp_path):
    photos = copy_photos(tmp_path / "photos", 12)
    out = pairs_cli(photos, masks, tmp_path / "p")
    (out / "images" / "notes.txt").write_text("mine")
    sorted(photos.iterdir())[0].unlink()
    pairs_cli(photos, masks, out)
    assert (out / "images" / "notes.txt").read_text() == "mine"


def test_foreign_folder_is_refused(photo_dir, masks, tmp_path):
    """A non-empty --out that `inpaint pairs` did not write is refused, as `inpaint eval` refuses one."""
    out = tmp_path / "mine"
    (out / "images").mkdir(parents=True)
    (out / "images" / "holiday.png").write_bytes(b"not touched")
    result = _pairs(photo_dir, masks, out)
    assert result.exit_code == 1, result.output
    assert "not empty" in result.output and str(out) in result.output
    assert sorted(p.name for p in out.rglob("*")) == ["holiday.png", "images"]


def test_linked_layout_folder_is_refused(photo_dir, masks, tmp_path):
    """`OUT/lama` made a link to another folder: nothing is written through it."""
    out = pairs_cli(photo_dir, masks, tmp_path / "p")
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in [p.name for p in (out / "lama").iterdir()]:
        (out / "lama" / name).unlink()
    (out / "lama").rmdir()
    (out / "lama").symlink_to(outside)
    result = _pairs(photo_dir, masks, out)
    assert result.exit_code == 1, result.output
    assert "link" in result.output
    assert list(outside.iterdir()) == []


def test_inverted_mask_folder_warns_and_strict_stops(photo_dir, masks, tmp_path):
    """The polarity warning says `--strict makes this an error`: `inpaint pairs` takes --strict, as `inpaint eval`
    does (it had no such option)."""
    import numpy as np
    from PIL import Image

    inverted = tmp_path / "inverted"
    inverted.mkdir()
    for path in sorted(masks.iterdir()):
        Image.fromarray(255 - np.asarray(Image.open(path).convert("L"))).save(inverted / path.name)
    args = ["pairs", "--images", str(photo_dir), "--masks", str(inverted), "--size", "64"]
    warned = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "p")])
    assert warned.exit_code == 0 and "--hole-value 0" in warned.output, warned.output
    strict = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "q"), "--strict"])
    assert strict.exit_code == 1 and "--hole-value 0" in strict.output, strict.output
    assert not (tmp_path / "q").exists()


def test_split_with_a_missing_mask_file_leaves_it_out_and_reports_it(photo_dir, masks, tmp_path):
    """A `qdimd bucket --from --link` split whose source mask was deleted (a dangling link): the row is left out and
    reported with its manifest line, as an unreadable mask is (it stopped eval and pairs); --strict stops."""
    import shutil

    from cli.qdimd_main import main as qdimd

    source = tmp_path / "source"
    shutil.copytree(masks, source)
    split = tmp_path / "split"
    assert CliRunner().invoke(qdimd, ["bucket", "--from", str(source), "--out", str(split), "--link"]).exit_code == 0
    gone = sorted(source.iterdir())[0]
    gone.unlink()
    result = _pairs(photo_dir, split, tmp_path / "p")
    assert result.exit_code == 0, result.output
    assert "manifest.csv:" in result.output and "missing" in result.output and gone.name in result.output
    assert len(read_pairs_manifest(tmp_path / "p")) == len(list(source.iterdir()))
    strict = CliRunner().invoke(main, ["pairs", "--images", str(photo_dir), "--masks", str(split), "--out",
                                       str(tmp_path / "q"), "--size", "64", "--strict"])
    assert strict.exit_code == 1 and "missing" in strict.output


@pytest.mark.parametrize("command", ["pairs", "eval"])
def test_rerun_with_the_same_folders_spelled_otherwise_is_the_same_run(photo_dir, masks, tmp_path, monkeypatch, command):
    """`--images photos` then `--images ./photos/` (or an absolute path): the same folders, the same run (refused as
    `images, masks differ`); the input fingerprints still catch changed contents."""
    monkeypatch.chdir(photo_dir.parent)
    extra = ["--method", "identity", "--metric", "l1"] if command == "eval" else []

    def run(images, mask_folder):
        return CliRunner().invoke(main, [command, "--images", images, "--masks", mask_folder, "--out",
                                         str(tmp_path / "out"), "--size", "64", *extra])

    first = run(photo_dir.name, str(masks))
    assert first.exit_code == 0, first.output
    again = run(f"./{photo_dir.name}/", str(masks) + "/")
    assert again.exit_code == 0, again.output
