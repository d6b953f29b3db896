"""Rebuild the bundled Quick, Draw! sample store ``qdimd/data/quickdraw_sample.qds``.

Usage (from the project root)::

    .venv/bin/python data/build_sample.py /work/shared/data/quickdraw/simplified

The input is the first 25 lines of each category of the official
``full/simplified/<category>.ndjson`` files (see ``data/README.md``). Files are
read in sorted order, so the store is the same bytes on every run.
"""
from __future__ import annotations

import sys
from pathlib import Path

from qdimd.strokes.builder import build_store
from qdimd.errors import ProblemLog
from qdimd.strokes.store import default_store_path


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: build_sample.py SIMPLIFIED_NDJSON_FOLDER")
    files = sorted(Path(argv[0]).glob("*.ndjson"))
    if not files:
        raise SystemExit(f"{argv[0]}: no .ndjson files")
    problems = ProblemLog(strict=True)
    counts = build_store(files, default_store_path(), problems=problems)
    size = default_store_path().stat().st_size
    print(f"{default_store_path()}: {counts['drawings']} drawings, {counts['strokes']} strokes, "
          f"{counts['points']} points from {len(files)} files, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
