"""The image database for Sim-K retrieval: descriptors, file list, config, neighbours.

A database is a folder::

    DB/config.json            format, descriptor config, VGG source, names of the files below
    DB/vectors-<gen>.npy      (N, D) float16 unit descriptors (memory-mapped on load)
    DB/files-<gen>.json       N absolute image paths (made absolute at indexing, symlinks kept)
    DB/topk-<gen>.npy         optional (N, K) int64: each image's K nearest other images
    DB/pca-<gen>.npz          optional PCA (mean, components) applied to raw descriptors

Writes are atomic: new data files get a fresh generation number, then
``config.json`` is replaced in one rename, then old generations are deleted.
A reader therefore always sees one consistent generation.
"""
from __future__ import annotations

import filecmp
import functools
import json
import os
import re
from pathlib import Path
from typing import Callable, Collection, Iterable, Sequence

import numpy as np

from qdimd.errors import InputError, ProblemLog
from qdimd.io import atomic_open, atomic_write_bytes

from .descriptors import DescriptorConfig, Pca, apply_pca, create_descriptor_features, describe_images, fit_pca
from ..images import load_images
from .search import DeviceCopies, precompute_topk, search_exact, search_faiss
from .weights import check_same_weights, load_database_vgg, vgg_weights_record  # noqa: F401 (re-exported)

FORMAT = "inpaint-imagedb"
VERSION = 1
DATA_NAME = re.compile(r"(vectors|files|topk|pca)-[0-9]{6,}\.(npy|json|npz)")
"""Names of a database's data files (``config.json``'s ``data``); nothing else is read or deleted."""


def _key(path: str | os.PathLike) -> str:
    """Identity of an image file: its resolved absolute path."""
    return os.path.realpath(os.fspath(path))


def _same_bytes(a: str | os.PathLike | None, b: str | os.PathLike) -> bool:
    """Whether files ``a`` and ``b`` hold the same bytes (False when either is missing)."""
    try:
        return a is not None and filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


class ImageDB:
    """Descriptors of a set of images, with their paths; immutable once built.

    Attributes:
        files: ``N`` image paths.
        vectors: ``(N, D)`` float16 unit rows (a read-only memmap when loaded).
        topk: ``(N, K)`` int64 precomputed neighbours (never the image itself) or ``None``.
        config: the JSON-able config (``descriptor``, ``vgg``, ...).
        pca: the PCA applied to raw descriptors, or ``None``.
    """

    def __init__(self, files: Sequence[str], vectors: np.ndarray, config: dict,
                 topk: np.ndarray | None = None, pca: Pca | None = None):
        if len(files) != len(vectors):
            raise ValueError(f"Expected one vector per file, got {len(files)} files and {len(vectors)} vectors")
        if topk is not None and len(topk) != len(files):
            raise ValueError(f"Expected one neighbour row per file, got {len(topk)} rows for {len(files)} files")
        self.files = list(files)
        self.vectors = vectors
        self.topk = topk
        self.config = dict(config)
        self.pca = pca
        self.path: Path | None = None  # the folder it was loaded from (named in errors)
        self._copies = DeviceCopies()   # the vectors on a GPU, kept between searches

    @functools.cached_property
    def _keys(self) -> dict[str, int]:
        """Resolved path -> row, built on first use (one realpath per file)."""
        return {_key(f): i for i, f in enumerate(self.files)}

    def __len__(self) -> int:
        return len(self.files)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def descriptor(self) -> DescriptorConfig:
        return DescriptorConfig.from_dict(self.config["descriptor"])

    def index_of(self, path: str | os.PathLike) -> int | None:
        """Row of ``path`` (compared as resolved absolute paths), or ``None``."""
        return self._keys.get(_key(path))

    def describe(self, features, images: Sequence[np.ndarray], *, device="cpu") -> np.ndarray:
        """Descriptors ``(B, D)`` float32 of new images, comparable with :attr:`vectors` (PCA applied)."""
        raw = describe_images(features, images, self.descriptor, device=device)
        return raw if self.pca is None else apply_pca(self.pca, raw)

    def search(self, queries: np.ndarray, k: int, *, exclude: Sequence[Collection[int]] | None = None,
               dup_threshold: float | None = None, index=None, device="cpu") -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(sims, ids)`` per query row; exact unless a FAISS ``index`` is given.

        See :func:`inpaint.retrieval.search.search_exact` for the arguments and outputs.
        """
        if index is not None:
            return search_faiss(index, queries, k, exclude=exclude, dup_threshold=dup_threshold)
        return search_exact(self.vectors, queries, k, exclude=exclude, dup_threshold=dup_threshold, device=device,
                            copies=self._copies)

    def search_file(self, query: np.ndarray, k: int, query_path: str | os.PathLike | None, *,
                    dup_threshold: float | None = None, device="cpu") -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(sims, ids)`` ``(k,)`` for one query ``(D,)`` or ``(1, D)``, never the query file.

        Left out: the row of ``query_path`` (any path to it: relative, absolute, a
        link) and every database file with the same bytes (a copy). Unused slots
        hold ``-inf`` and ``-1``.
        """
        own = self.index_of(query_path) if query_path is not None else None
        excluded = set() if own is None else {own}
        checked: dict[int, bool] = {}
        while True:
            sims, ids = self.search(np.atleast_2d(query), k, exclude=[excluded], dup_threshold=dup_threshold, device=device)
            for i in ids[0][ids[0] >= 0]:
                if int(i) not in checked:
                    checked[int(i)] = _same_bytes(query_path, self.files[i])
            copies = {int(i) for i in ids[0] if i >= 0 and checked[int(i)]}
            if not copies:
                return sims[0], ids[0]
            excluded |= copies

    # --- files ---------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the database folder atomically (see the module docstring)."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise InputError(f"{path}: exists and is not a database folder")
        path.mkdir(parents=True, exist_ok=True)
        old = _read_config(path) if (path / "config.json").is_file() else None
        gen = (old or {}).get("generation", 0) + 1
        names = {"vectors": f"vectors-{gen:06d}.npy", "files": f"files-{gen:06d}.json"}
        try:  # any failure removes this generation's files: the database stays as it was, no orphan
            _save_npy(path / names["vectors"], np.asarray(self.vectors, dtype=np.float16))
            atomic_write_bytes(path / names["files"], _files_json(self.files))
            if self.topk is not None:
                names["topk"] = f"topk-{gen:06d}.npy"
                _save_npy(path / names["topk"], np.asarray(self.topk, dtype=np.int64))
            if self.pca is not None:
                names["pca"] = f"pca-{gen:06d}.npz"
                self.pca.save(path / names["pca"])
            config = {**self.config, "format": FORMAT, "version": VERSION, "generation": gen, "count": len(self),
                      "dim": self.dim, "topk_k": None if self.topk is None else int(self.topk.shape[1]), "data": names}
            atomic_write_bytes(path / "config.json", json.dumps(config, indent=2).encode())
        except BaseException:
            for name in names.values():
                (path / name).unlink(missing_ok=True)
            raise
        if old is not None:
            for name in old.get("data", {}).values():
                if name not in names.values():
                    (path / name).unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ImageDB":
        """Open a database folder; the vectors are memory-mapped, not read.

        Raises:
            InputError: missing, foreign or inconsistent database (the message names it).
        """
        path = Path(path)
        config = _read_config(path)
        data = config["data"]
        try:
            vectors = np.load(path / data["vectors"], mmap_mode="r")
            files = json.loads((path / data["files"]).read_text(encoding="utf-8"))
            topk = np.load(path / data["topk"], mmap_mode="r") if data.get("topk") else None
            pca = Pca.load(path / data["pca"]) if data.get("pca") else None
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{path}: damaged image database ({exc})") from None
        if vectors.dtype != np.float16 or vectors.ndim != 2 or len(vectors) != len(files) or len(files) != config.get("count"):
            raise InputError(f"{path}: damaged image database ({len(files)} files, vectors {vectors.shape} {vectors.dtype})")
        _check_arrays(path, data, files, vectors, topk)
        db = cls(files, vectors, config, topk=topk, pca=pca)
        db.path = path
        return db


CHECK_ROWS = 1 << 16
"""Rows checked at a time by :func:`_check_arrays` (the arrays stay memory-mapped)."""


def _check_arrays(path: Path, data: dict, files: list, vectors: np.ndarray, topk: np.ndarray | None) -> None:
    """A damaged or tampered database fails at load, naming the file: paths that are not strings, a
    non-finite vector, or a neighbour index outside ``-1..N-1`` (-1 = none)."""
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise InputError(f"{path / data['files']}: damaged image database (Expected a JSON list of paths)")
    for start in range(0, len(vectors), CHECK_ROWS):
        bad = np.flatnonzero(~np.isfinite(vectors[start:start + CHECK_ROWS]).all(axis=1))
        if len(bad):
            raise InputError(f"{path / data['vectors']}: damaged image database: the vector of row {start + int(bad[0])} "
                             f"({files[start + int(bad[0])]}) is not finite (NaN or infinity); rebuild it with `inpaint index`")
    if topk is None:
        return
    if topk.ndim != 2 or topk.dtype.kind not in "iu":
        raise InputError(f"{path / data['topk']}: damaged image database (Expected (N, K) integer neighbours, "
                         f"got {topk.shape} {topk.dtype})")
    for start in range(0, len(topk), CHECK_ROWS):
        block = np.asarray(topk[start:start + CHECK_ROWS])
        bad = np.flatnonzero(((block < -1) | (block >= len(files))).any(axis=1))
        if len(bad):
            row = block[bad[0]]
            value = int(row[(row < -1) | (row >= len(files))][0])
            raise InputError(f"{path / data['topk']}: damaged image database: row {start + int(bad[0])} names neighbour "
                             f"{value}, Expected -1..{len(files) - 1}; rebuild it with `inpaint index --topk K`")


def _read_config(path: Path) -> dict:
    cfg = path / "config.json"
    if not cfg.is_file():
        raise InputError(f"{path}: not an image database (no config.json; build one with `inpaint index`)")
    try:
        config = json.loads(cfg.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise InputError(f"{cfg}: unreadable database config ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT or "data" not in config:
        raise InputError(f"{cfg}: not an inpaint image database config (expected format {FORMAT!r})")
    if config.get("version", 0) > VERSION:
        raise InputError(f"{cfg}: database version {config['version']} is newer than this program's ({VERSION})")
    data = config["data"]
    bad = [v for v in (data.values() if isinstance(data, dict) else [data]) if not isinstance(v, str) or not DATA_NAME.fullmatch(v)]
    if bad:  # read from and deleted on the next save: never a path outside the folder
        raise InputError(f"{cfg}: expected data files named like vectors-000001.npy inside {path}, got {bad[0]!r}")
    return config


def _files_json(files: list[str]) -> bytes:
    """The path list as UTF-8 JSON; a file name that is not valid UTF-8 (held by Python as surrogate
    escapes, ``os.fsdecode``) is written as JSON ``\\udcXX`` escapes, which load back to the same path."""
    try:
        return json.dumps(files, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(files).encode("ascii")


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_open(path) as f:
        np.save(f, array)


def build_database(
    paths: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    vgg,
    vgg_source: str,
    descriptor: DescriptorConfig | None = None,
    append: bool = False,
    topk: int | None = None,
    topk_dup_threshold: float | None = None,
    batch_size: int = 16,
    problems: ProblemLog | None = None,
    progress: Callable[[int, int], None] | None = None,
    device="cpu",
) -> ImageDB:
    """Index images into the database folder ``out`` (new, or extended with ``append``).

    Args:
        paths: image files; with ``append`` the ones already in the database are skipped.
        out: database folder.
        vgg: the :class:`~inpaint.nn.vgg.VGG16` (on ``device``) that makes the descriptors.
        vgg_source: where its weights came from: the file (see
            :func:`inpaint.retrieval.weights.vgg_weights_file`), or ``"random"``. A file's
            absolute path and SHA-256 are recorded, and :func:`load_database_vgg` loads the
            same weights again (refusing others).
        descriptor: descriptor settings; None = the stored ones with ``append``,
            else the defaults. Appending with a different kind or size is an error.
        topk: also store each image's ``topk`` nearest others (kept at the
            stored K on append when ``None``).
        topk_dup_threshold: leave near-duplicates (cosine similarity above it, e.g.
            copies of an image) out of its neighbours; kept on append.
        problems: unreadable images are noted here and skipped (``None``: raise).
        progress: ``progress(done, total)`` after each batch.

    Returns:
        The saved database. An interrupt saves the images indexed so far
        (without PCA/neighbours) before re-raising; ``append`` resumes.

    Raises:
        InputError: no readable image, or ``append`` to an incompatible database.
    """
    out = Path(out)
    old = ImageDB.load(out) if append and (out / "config.json").exists() else None
    if old is not None:
        descriptor = descriptor or old.descriptor
        if old.descriptor.kind != descriptor.kind or old.descriptor.size != descriptor.size:
            raise InputError(f"{out}: database uses descriptor {old.descriptor}, cannot append with {descriptor}")
        stored_k = old.config.get("topk_k") or old.config.get("topk_pending")  # pending: an interrupted run's
        descriptor, topk = old.descriptor, topk if topk is not None else stored_k
        if topk_dup_threshold is None:
            topk_dup_threshold = old.config.get("topk_dup_threshold")
    elif (out / "config.json").exists() and not append:
        raise InputError(f"{out}: database exists; pass --append to add images or choose another folder")
    descriptor = descriptor or DescriptorConfig()
    if old is not None and float(old.config.get("vgg_width", 1.0)) != float(vgg.width):
        raise InputError(f"{out}: database was built with VGG width {old.config.get('vgg_width')}, got {vgg.width}")
    weights = {**vgg_weights_record(vgg_source), "vgg_width": vgg.width}
    if old is not None:
        check_same_weights(old.config, weights, str(out))
    features = create_descriptor_features(vgg, descriptor).to(device)
    known = set(old._keys) if old is not None else set()
    todo, seen, changed = [], set(), []
    written = os.stat(out / old.config["data"]["vectors"]).st_mtime_ns if old is not None else 0
    for p in paths:
        key = _key(p)
        if key in known and os.stat(p).st_mtime_ns > written:
            changed.append(p)
        if key not in known and key not in seen:
            seen.add(key)
            todo.append(p)
    if changed:  # an append keeps known descriptors: those of edited or replaced photos would be stale
        raise InputError(f"{out}: {len(changed)} indexed image(s) changed after the database was written (first "
                         f"{changed[0]}); their descriptors would be stale: rebuild it into a new --out without --append")
    if topk is not None and not 1 <= topk < len(known) + len(todo):
        raise InputError(f"Expected --topk K with 1 <= K < number of images ({len(known) + len(todo)}), got {topk}")
    files = list(old.files) if old is not None else []
    raw: list[np.ndarray] = []  # new raw descriptors, float32
    new_files: list[str] = []
    try:
        for start in range(0, len(todo), batch_size):
            batch = list(load_images(todo[start : start + batch_size], (descriptor.size, descriptor.size), problems))
            if batch:
                raw.append(describe_images(features, [im for _, im in batch], descriptor, device=device))
                new_files += [os.path.abspath(p) for p, _ in batch]  # queries work from any directory
            if progress is not None:
                progress(min(len(todo), start + batch_size), len(todo))
    except KeyboardInterrupt:
        if new_files and (old is not None or descriptor.pca_dim is None):  # a PCA needs all images
            partial = _assemble(files, new_files, raw, old, descriptor, weights, None, device)
            if topk is not None:  # an --append finishes the neighbours
                partial.config.update(topk_pending=topk, topk_dup_threshold=topk_dup_threshold)
            partial.save(out)
        raise
    if not files and not new_files:
        raise InputError(f"no readable image to index into {out}")
    db = _assemble(files, new_files, raw, old, descriptor, weights, topk, device, topk_dup_threshold)
    if old is None or new_files or (topk is not None and old.topk is None) or (
            topk is not None and old.topk is not None and old.topk.shape[1] != topk) or "topk_pending" in old.config or (
            topk is not None and old.config.get("topk_dup_threshold") != topk_dup_threshold):
        db.save(out)
        return ImageDB.load(out)
    return old


def _assemble(files, new_files, raw, old, descriptor, vgg, topk, device, dup_threshold=None) -> ImageDB:
    """Combine the stored and the new descriptors (PCA fitted on a new database only)."""
    new = np.concatenate(raw) if raw else np.zeros((0, old.dim if old is not None else 0), np.float32)
    pca = old.pca if old is not None else None
    if old is None and descriptor.pca_dim is not None:
        pca = fit_pca(new, descriptor.pca_dim)
    if pca is not None and len(new):
        new = apply_pca(pca, new)
    if old is not None:
        vectors = np.concatenate([np.asarray(old.vectors), new.astype(np.float16)]) if len(new) else np.asarray(old.vectors)
    else:
        vectors = new.astype(np.float16)
    config = dict(old.config) if old is not None else {"descriptor": descriptor.to_dict(), **vgg}
    neighbours = None
    if topk is not None:
        neighbours = precompute_topk(vectors, topk, dup_threshold=dup_threshold, device=device)
        short = int((neighbours < 0).any(axis=1).sum())
        if short:
            raise InputError(f"Expected {topk} neighbours per image below similarity {dup_threshold}, but {short} "
                             "image(s) have fewer; lower --topk or raise --dup-threshold")
        config["topk_dup_threshold"] = dup_threshold
        config.pop("topk_pending", None)
    return ImageDB(files + new_files, vectors, config, topk=neighbours, pca=pca)

