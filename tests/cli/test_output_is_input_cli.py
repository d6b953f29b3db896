"""Every command refuses, before any work, an output that is one of its inputs, holds one, or (where a rerun
would read it back) lies inside an input folder (issue 18): the inputs are left byte for byte as they were."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.inpaint_main import main as inpaint_main
from cli.qdimd_main import main as qdimd_main
from inpaint.checkpoint import checkpoint_payload, write_checkpoint
from inpaint.nn.models import create_model

from helpers import rect_hole, save_gray

STROKES = Path(__file__).parents[1] / "data" / "quickdraw" / "simplified.ndjson"


@pytest.fixture()
def work(tmp_path, copy_photos):
    """photos/ (2 real photos), masks/ (a mask per photo, same stems), strokes/s.ndjson, gen/ (qdimd generate), c.pt."""
    photos = copy_photos(tmp_path / "photos", 2)
    for path in photos.iterdir():
        save_gray(tmp_path / "masks" / f"{path.stem}.png", rect_hole(128, 0.2, 10).astype(np.uint8) * 255)
    (tmp_path / "strokes").mkdir()
    shutil.copy(STROKES, tmp_path / "strokes" / "s.ndjson")
    result = CliRunner().invoke(qdimd_main, ["generate", "--n", "4", "--size", "64", "--workers", "1",
                                             "--out", str(tmp_path / "gen")])
    assert result.exit_code == 0, result.output
    kwargs = {"image_size": 32, "width": 0.125}
    model = create_model("pconv", **kwargs).eval()
    write_checkpoint(tmp_path / "c.pt", checkpoint_payload(model, model_name="pconv", model_kwargs=kwargs, step=3, config={}))
    return tmp_path


def _snapshot(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


CASES = [
    # (cli, args with {w} = the work folder, what the message says)
    ("inpaint", "fill {w}/photos {w}/masks -o {w}/masks --method telea", "is the input MASK"),
    ("inpaint", "fill {w}/photos {w}/masks -o {w}/photos/filled --method telea", "inside the input IMAGE"),
    ("inpaint", "fill {w}/photos {w}/masks -o {w} --method telea", "holds the input IMAGE"),
    ("inpaint", "fill {w}/photos/{photo} {w}/masks/{stem}.png -o {w}/masks/{stem}.png --method telea", "is the input MASK"),
    ("inpaint", "export {w}/c.pt -o {w}/c.pt", "is the input CHECKPOINT"),
    ("inpaint", "index --images {w}/photos --out {w}/photos --allow-random-vgg --vgg-width 0.0625", "is the input --images"),
    ("inpaint", "train --images {w}/photos --out {w}/photos/run --max-steps 1 --allow-random-vgg", "inside the input --images"),
    ("inpaint", "train --images {w}/photos --masks {w}/masks --out {w}/masks --max-steps 1", "is the input --masks"),
    ("qdimd", "generate --n 2 --strokes {w}/strokes/s.ndjson --out {w}/strokes", "holds the input --strokes"),
    ("qdimd", "bucket --per-group 1 --strokes {w}/strokes/*.ndjson --out {w}", "holds the input --strokes"),
    ("qdimd", "bucket --from {w}/masks --out {w}", "holds the input --from"),
    ("qdimd", "preview {w}/gen/manifest.csv -o {w}/gen/manifest.csv", "is the input SOURCE"),
    ("qdimd", "preview {w}/gen -o {w}/gen/sheet.png", "inside the input SOURCE"),
    ("qdimd", "stats {w}/gen -o {w}/gen/hist.png", "inside the input SRC"),
    ("qdimd", "index {w}/strokes/s.ndjson -o {w}/strokes/s.ndjson", "is the input SRC"),
    ("qdimd", "index {w}/strokes -o {w}/strokes/s.ndjson", "is the input stroke file"),  # a file of a SRC folder
]


@pytest.mark.parametrize("cli, args, message", CASES, ids=[" ".join(c[1].split()[:1] + [c[2]]) for c in CASES])
def test_output_that_is_an_input_is_refused_before_any_work(work, cli, args, message):
    photo = sorted((work / "photos").iterdir())[0]
    argv = args.format(w=work, photo=photo.name, stem=photo.stem).split()
    before = _snapshot(work)
    result = CliRunner().invoke(inpaint_main if cli == "inpaint" else qdimd_main, argv)
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output
    assert _snapshot(work) == before  # nothing written, replaced or removed


def test_train_refuses_a_folder_that_is_not_a_run(work):
    (work / "busy").mkdir()
    (work / "busy" / "config.json").write_text('{"mine": true}')
    before = _snapshot(work)
    result = CliRunner().invoke(inpaint_main, ["train", "--images", str(work / "photos"), "--out", str(work / "busy"),
                                               "--max-steps", "1", "--allow-random-vgg"])
    assert result.exit_code == 1 and "not a training run folder" in result.output, result.output
    assert _snapshot(work) == before


def test_generate_resume_never_writes_through_a_linked_parts_folder(work):
    gen, elsewhere = work / "gen2", work / "elsewhere"
    elsewhere.mkdir()
    gen.mkdir()
    (gen / ".qdimd-parts").symlink_to(elsewhere, target_is_directory=True)
    result = CliRunner().invoke(qdimd_main, ["generate", "--n", "4", "--size", "64", "--workers", "1", "--out", str(gen)])
    assert result.exit_code == 1 and "symbolic link" in result.output, result.output
    assert list(elsewhere.iterdir()) == []
