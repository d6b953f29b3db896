"""``qdimd index`` through click's CliRunner: output, filters, skipped-record report, errors."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from qdimd.strokes.store import StrokeStore, load_default_store
from qdimd_cli.qdimd_main import main

QUICKDRAW = Path(__file__).parents[1] / "data" / "quickdraw"
SIMPLIFIED = QUICKDRAW / "simplified.ndjson"
RAW = QUICKDRAW / "raw.ndjson"


def run(*args: str):
    return CliRunner().invoke(main, ["index", *map(str, args)])


def test_index_folder_writes_a_store(tmp_path):
    out = tmp_path / "s.qds"
    result = run(QUICKDRAW, "-o", out)
    assert result.exit_code == 0, result.output
    assert "5 drawings" in result.output and "3 duplicate key_id(s) dropped" in result.output
    store = StrokeStore.load(out)
    assert store.n_drawings == 5 and isinstance(store.points, np.memmap)


def test_index_filters(tmp_path):
    out = tmp_path / "s.qds"
    result = run(load_default_store().path, "-o", out, "--categories", "cat, dog", "--recognized-only")
    assert result.exit_code == 0, result.output
    store = StrokeStore.load(out)
    assert store.categories == ("cat", "dog") and store.recognized.all() and 0 < store.n_drawings <= 50


def test_index_reports_skipped_records_with_places(tmp_path):
    bad = tmp_path / "bad.ndjson"
    lines = SIMPLIFIED.read_bytes().splitlines()
    bad.write_bytes(b"\n".join([lines[0], b"{not json", lines[1], b'{"word": "x"}']) + b"\n")
    out = tmp_path / "s.qds"
    result = run(bad, tmp_path / "missing.ndjson", "-o", out)
    assert result.exit_code == 0, result.output
    assert "2 drawings" in result.output
    assert "skipped 3 bad record(s)" in result.output
    assert f"{bad}:2: malformed JSON" in result.output and f"{bad}:4:" in result.output
    assert "missing.ndjson: no such file or folder" in result.output


def test_index_strict_stops_with_exit_1_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(SIMPLIFIED.read_bytes() + b"[1, 2]\n")
    result = run(bad, "-o", tmp_path / "s.qds", "--strict")
    assert result.exit_code == 1
    assert f"{bad}:6" in result.output and "strict" in result.output
    assert "Traceback" not in result.output
    assert os.listdir(tmp_path) == ["bad.ndjson"]


def test_index_nothing_readable_is_an_error(tmp_path):
    empty = tmp_path / "empty.ndjson"
    empty.write_bytes(b"")
    result = run(empty, "-o", tmp_path / "s.qds")
    assert result.exit_code == 1
    assert "no drawings to index" in result.output and "empty.ndjson: empty file" in result.output
    assert sorted(os.listdir(tmp_path)) == ["empty.ndjson"]


def test_index_usage_errors(tmp_path):
    assert run("-o", tmp_path / "s.qds").exit_code == 2  # no source
    result = run(SIMPLIFIED, "-o", tmp_path / "nofolder" / "s.qds")
    assert result.exit_code == 1 and "output folder does not exist" in result.output
    result = run(SIMPLIFIED, "-o", tmp_path / "s.qds", "--categories", " , ")
    assert result.exit_code == 2 and "NAME[,NAME...]" in result.output


def test_index_raw_and_gz(tmp_path):
    import gzip

    gz = tmp_path / "raw.ndjson.gz"
    gz.write_bytes(gzip.compress(RAW.read_bytes()))
    out = tmp_path / "r.qds"
    result = run(gz, "-o", out)
    assert result.exit_code == 0, result.output
    store = StrokeStore.load(out)
    assert store.n_drawings == 3 and store.categories == ("ant", "matches", "mosquito")
    for d in range(3):
        points = np.concatenate(store.drawing(d).strokes)
        assert points.min() == 0 and points.max() == 255


def test_a_misspelt_category_is_an_error_with_close_matches(tmp_path):
    """Issue 10, fault 4: ``--categories catt,dog`` used to index dog alone and drop the typo silently."""
    out = tmp_path / "x.qds"
    result = run(load_default_store().path, "-o", out, "--categories", "catt,dog")
    assert result.exit_code == 1 and "'catt' (did you mean 'cat'" in result.output and "Traceback" not in result.output
    assert not out.exists()
    result = run(QUICKDRAW, "-o", out, "--categories", "ant,mountian")  # ndjson: checked once read, nothing written
    assert result.exit_code == 1 and "'mountian' (did you mean 'mountain'" in result.output and not out.exists()


def test_a_custom_category_of_the_sources_is_accepted(tmp_path):
    custom = tmp_path / "mine.ndjson"
    line = SIMPLIFIED.read_text().splitlines()[0]
    custom.write_text(line.replace('"word":"mosquito"', '"word":"myshape"').replace('"key_id":"', '"key_id":"1') + "\n")
    out = tmp_path / "x.qds"
    result = run(custom, SIMPLIFIED, "-o", out, "--categories", "myshape,ant")
    assert result.exit_code == 0, result.output
    assert StrokeStore.load(out).categories == ("ant", "myshape")
    result = run(custom, "-o", out, "--categories", "myshap")
    assert result.exit_code == 1 and "'myshap' (did you mean 'myshape'" in result.output
    result = run(custom, "-o", out, "--categories", "cat")
    assert result.exit_code == 1 and "'cat' (an official category, but these sources have no drawing of it)" in result.output
