"""Review regressions of the core: manifest replay of augmented non-square tar runs, preview
sources, stores named without ``.qds``, the worker cache, the resolved renderer."""
from __future__ import annotations

import csv
import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import orjson
from click.testing import CliRunner
from PIL import Image

from qdimd import MaskConfig, MaskGenerator, MaskParams, border_distance, render_mask
from qdimd.strokes.builder import build_store
from qdimd.errors import ProblemLog
from qdimd.masks.render import resolve_renderer
from qdimd.strokes.store import StrokeStore, load_default_store
from qdimd.strokes.builder import open_strokes
from qdimd.files.writer import write_masks
from qdimd_cli.qdimd_main import main

QUICKDRAW = Path(__file__).parents[2] / "data" / "quickdraw"
SIMPLIFIED = QUICKDRAW / "simplified.ndjson"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def rows_of(manifest: Path) -> list[dict]:
    with open(manifest, newline="") as f:
        return list(csv.DictReader(f))


def test_manifest_rows_rebuild_augmented_non_square_tar_masks(tmp_path):
    out = tmp_path / "run"
    result = invoke("generate", "--n", 24, "--size", "48x80", "--seed", 4, "--workers", 1, "--augment",
                    "--hole-value", 0, "--format", "tar", "--shard-size", 10, "--out", out)
    assert result.exit_code == 0, result.output
    config = orjson.loads((out / "config.json").read_bytes())
    mask_config = MaskConfig.from_dict(config["mask_config"])
    assert mask_config.size == (48, 80) and mask_config.augment is not None
    store = load_default_store()
    rows = rows_of(out / "manifest.csv")
    assert len(rows) == 24
    augmented = 0
    for row in rows:
        shard, member = row["file"].split(":")
        with tarfile.open(out / shard) as tar:
            gray = np.asarray(Image.open(io.BytesIO(tar.extractfile(member).read())))
        assert gray.shape == (48, 80)
        hole = gray == 0  # --hole-value 0: holes black
        params = MaskParams.from_dict(orjson.loads(row["params"]))
        augmented += params.augment is not None
        assert np.array_equal(render_mask(params, mask_config, store), hole), row["index"]
        assert float(row["hole_ratio"]) == hole.mean() and int(row["border_distance"]) == border_distance(hole)
    assert augmented == 24


def test_config_records_the_renderer_really_used(tmp_path):
    assert invoke("generate", "--n", 2, "--size", 32, "--workers", 1, "--out", tmp_path / "a").exit_code == 0
    config = orjson.loads((tmp_path / "a" / "config.json").read_bytes())
    assert config["mask_config"]["renderer"] == resolve_renderer("auto") != "auto"
    # naming it explicitly is the same run, so it resumes
    again = invoke("generate", "--n", 2, "--size", 32, "--workers", 1, "--out", tmp_path / "a", "--resume",
                   "--renderer", resolve_renderer("auto"))
    assert again.exit_code == 0, again.output


def test_preview_rejects_a_file_that_is_not_a_manifest(tmp_path):
    result = invoke("preview", SIMPLIFIED, "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and "not a mask manifest" in result.output and "Traceback" not in result.output
    binary = tmp_path / "strokes.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    result = invoke("preview", binary, "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and "not a mask manifest" in result.output
    assert not (tmp_path / "x.png").exists()


def test_preview_of_a_folder_shared_by_tar_parts(tmp_path):
    shared, whole = tmp_path / "shared", tmp_path / "whole"
    opts = ["generate", "--n", 11, "--size", 32, "--workers", 1, "--format", "tar", "--shard-size", 3]
    for k in (1, 2, 3):
        assert invoke(*opts, "--out", shared, "--shard", f"{k}/3").exit_code == 0
    assert invoke(*opts, "--out", whole).exit_code == 0
    assert not (shared / "manifest.csv").exists()  # only manifest-K-of-3.csv
    sheets = []
    for folder in (shared, whole):
        result = invoke("preview", folder, "--n", 64, "-o", tmp_path / f"{folder.name}.png")
        assert result.exit_code == 0 and "of 11 masks" in result.output, result.output
        sheets.append(np.asarray(Image.open(tmp_path / f"{folder.name}.png")))
    assert np.array_equal(*sheets)  # the parts in order: the same sheet as the whole run


def test_a_store_named_without_qds_is_recognised(tmp_path):
    store = load_default_store()
    plain = tmp_path / "strokes.bin.store"
    shutil.copyfile(store.path, plain)
    opened = open_strokes([plain])
    assert opened.path == plain.absolute() and opened.n_drawings == store.n_drawings
    counts = build_store([plain], tmp_path / "copy.qds", problems=ProblemLog(strict=True))
    assert counts["drawings"] == store.n_drawings
    result = invoke("generate", "--n", 3, "--size", 32, "--workers", 1, "--strokes", plain, "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output


def test_generate_shows_progress_while_indexing_ndjson_sources(tmp_path):
    result = invoke("generate", "--n", 2, "--size", 32, "--workers", 1, "--strokes", SIMPLIFIED, "--out", tmp_path / "m")
    assert result.exit_code == 0 and "index strokes" in result.output
    result = invoke("generate", "--n", 2, "--size", 32, "--workers", 1, "--out", tmp_path / "b")
    assert result.exit_code == 0 and "index strokes" not in result.output  # the bundled store: nothing to index


def test_a_store_rebuilt_under_the_same_path_is_not_served_from_the_worker_cache(tmp_path):
    path = tmp_path / "strokes.qds"
    config = MaskConfig(size=(32, 32))
    masks = []
    for categories in (["cat"], ["dog"]):
        build_store([load_default_store().path], path, problems=ProblemLog(), categories=categories)
        out = tmp_path / categories[0]
        write_masks(out, config, StrokeStore.load(path), n=3, seed=1, workers=1)
        masks.append(np.asarray(Image.open(out / "00000000.png")) == 255)
        assert np.array_equal(masks[-1], MaskGenerator(config, StrokeStore.load(path), seed=1).generate(0))
    assert not np.array_equal(*masks)
