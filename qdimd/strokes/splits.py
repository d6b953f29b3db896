"""The fixed train/test split of Quick, Draw! categories.

Iskakov 2018 split the Quick, Draw! categories in half so that test masks come
from strokes never seen in training. The rule here depends only on a category's
name, never on which other categories a store holds, so it is the same for the
bundled sample, the full 345 categories and any subset:

    category ``c`` is in the test half iff ``zlib.crc32(c.encode("utf-8")) % 2 == 1``.
"""
from __future__ import annotations

import zlib

SPLITS: tuple[str, str] = ("train", "test")


def split_of(category: str) -> str:
    """``train`` or ``test`` for a category name."""
    return SPLITS[zlib.crc32(category.encode("utf-8")) % 2]


def check_split(split: str | None) -> str | None:
    """Validate a split name (``None`` = all categories)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"Expected split in {SPLITS} or None, got {split!r}")
    return split
