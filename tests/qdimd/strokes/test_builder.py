"""qdimd.strokes.builder: category names are checked against the sources everywhere they are accepted."""
from __future__ import annotations

import pytest

from qdimd.errors import InputError, ProblemLog
from qdimd.strokes.builder import build_store, open_strokes
from qdimd.strokes.store import load_default_store


@pytest.mark.parametrize("open_", [
    lambda names, tmp: build_store([load_default_store().path], tmp / "x.qds", problems=ProblemLog(), categories=names),
    lambda names, tmp: open_strokes(None, categories=names),
    lambda names, tmp: load_default_store().drawing_pool(categories=names),
], ids=["build_store", "open_strokes", "drawing_pool"])
def test_unknown_names_list_close_matches(tmp_path, open_):
    with pytest.raises(InputError, match=r"'catt' \(did you mean 'cat'") as info:
        open_(["catt", "dog"], tmp_path)
    assert "categories" in str(info.value) or "category" in str(info.value)
    assert not (tmp_path / "x.qds").exists()


def test_names_are_checked_before_reading_stores(tmp_path, monkeypatch):
    """All sources are stores: their headers list the words, so nothing is streamed before the error."""
    from qdimd.strokes import builder

    monkeypatch.setattr(builder, "iter_rows", lambda *a, **k: pytest.fail("read before the names were checked"))
    with pytest.raises(InputError, match="not in the sources"):
        build_store([load_default_store().path], tmp_path / "x.qds", problems=ProblemLog(), categories=["dgo"])


def test_known_names_are_stripped_and_deduplicated(tmp_path):
    counts = build_store([load_default_store().path], tmp_path / "x.qds", problems=ProblemLog(),
                         categories=[" cat", "cat", "dog "])
    assert counts["drawings"] == 50
