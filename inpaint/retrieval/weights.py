"""The VGG-16 weights behind a Sim-K database: recorded at indexing, checked at every use.

Descriptors are only comparable when query and database come from the same network, so
``inpaint index`` records the weights file it used in the database's ``config.json``:
``vgg_path`` (absolute) and ``vgg_sha256``. :func:`load_database_vgg` (behind ``inpaint
query``, ``inpaint fill --method simk`` and ``inpaint eval``'s ``simk:``) then loads, by default,

1. the recorded file, if it is still there with the recorded hash;
2. else torch.hub's cache file ``vgg16-397923af.pth``, if its hash is the recorded one;
3. else, when the recorded hash is that of torchvision's published file, a download of it
   (torch.hub checks the hash prefix, the whole hash is checked here).

Explicit weights (``--vgg-weights``) whose SHA-256 differs from the recorded one are refused
(as is any file for a database built with random weights),
as are recorded files that changed since. A database written before hashes were recorded
(no ``vgg_sha256``) is used as before, with a warning that its weights cannot be checked.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from qdimd.errors import InputError
from qdimd.io import file_sha256

from ..nn.hub import hub_checkpoint_path
from ..nn.vgg import VGG16_URL, load_vgg16

RANDOM = "random"


def vgg_weights_file(weights: str | os.PathLike | None) -> str:
    """The file :func:`inpaint.nn.vgg.load_vgg16` reads for ``weights``: itself (made absolute),
    else torch.hub's cache file (where a download lands too)."""
    return os.path.abspath(weights) if weights is not None else str(hub_checkpoint_path(VGG16_URL))


def vgg_weights_record(source: str) -> dict:
    """Config entries naming the weights of a new database.

    Args:
        source: ``"random"`` or the weights file (see :func:`vgg_weights_file`); another
            string (no such file) is recorded as a name, without a hash.
    """
    if source == RANDOM or not Path(source).is_file():
        return {"vgg": source}
    path = os.path.abspath(source)
    return {"vgg": path, "vgg_path": path, "vgg_sha256": file_sha256(path)}


def check_same_weights(config: dict, record: dict, where: str) -> None:
    """Raise unless descriptors made with ``record``'s weights can join a database of ``config``.

    Raises:
        InputError: random against real weights, or two different recorded hashes.
    """
    old, new = config.get("vgg_sha256"), record.get("vgg_sha256")
    if (config.get("vgg") == RANDOM) != (record["vgg"] == RANDOM) or (old and new and old != new):
        raise InputError(f"{where}: database was built with VGG-16 weights {_describe(config)}, cannot append "
                         f"descriptors from {_describe(record)} (they would not be comparable)")


def _describe(config: dict) -> str:
    name = config.get("vgg_path") or config.get("vgg")
    return f"{name!r} (SHA-256 {config['vgg_sha256'][:12]}...)" if config.get("vgg_sha256") else repr(name)


def load_database_vgg(db, weights: str | os.PathLike | None = None, *, allow_random: bool = False,
                      progress: bool = True):
    """The VGG-16 whose descriptors fill ``db`` (same width and weights; see the module docstring).

    Args:
        db: the :class:`~inpaint.retrieval.database.ImageDB`.
        weights: ``--vgg-weights``; None = the recorded file (or its copy in torch.hub's cache).
        allow_random: required when the database was built with random weights.
        progress: download progress bar.

    Raises:
        InputError: a random-weights database without ``allow_random``; weights whose SHA-256
            is not the database's; recorded weights that are nowhere to be found.
    """
    config, width = db.config, float(db.config.get("vgg_width", 1.0))
    where = getattr(db, "path", None) or "the database"
    if config.get("vgg") == RANDOM:
        if weights is not None:
            raise InputError(f"{where} was built with random VGG-16 weights (--allow-random-vgg): descriptors from "
                             f"{weights} would not be comparable; drop --vgg-weights or rebuild the database")
        if not allow_random:
            raise InputError(f"{where} was built with random VGG-16 weights (--allow-random-vgg); "
                             "pass --allow-random-vgg to query it, or rebuild it with real weights")
        return load_vgg16(allow_random=True, width=width)
    want = config.get("vgg_sha256")
    if not want:
        warnings.warn(f"{where} records no SHA-256 of its VGG-16 weights (built by an older version), so they "
                      "cannot be checked: descriptors are meaningless unless these are the same weights; "
                      "rebuild it with `inpaint index` to record them", stacklevel=2)
        old = config.get("vgg")
        if weights is None and old and old != "torchvision" and Path(old).is_file():
            weights = old
        return load_vgg16(weights, width=width, progress=progress)
    if weights is not None:
        _check_hash(weights, want, where, config)
        return load_vgg16(weights, width=width, progress=progress)
    for candidate in (config.get("vgg_path"), hub_checkpoint_path(VGG16_URL)):
        if candidate and Path(candidate).is_file() and file_sha256(candidate) == want:
            return load_vgg16(candidate, width=width, progress=progress)
    if want.startswith(_url_hash_prefix()) and not hub_checkpoint_path(VGG16_URL).is_file():
        model = load_vgg16(None, width=width, progress=progress)  # torchvision's file: download it
        _check_hash(hub_checkpoint_path(VGG16_URL), want, where, config)
        return model
    raise InputError(f"{where} was built with VGG-16 weights {_describe(config)}: no file with that SHA-256 at "
                     f"that path or in torch.hub's cache ({hub_checkpoint_path(VGG16_URL)}); pass --vgg-weights FILE "
                     "with those weights")


def _check_hash(path: str | os.PathLike, want: str, where: str, config: dict) -> None:
    if not Path(path).is_file():
        raise InputError(f"{path}: no such weights file")
    got = file_sha256(path)
    if got != want:
        raise InputError(f"{path}: VGG-16 weights with SHA-256 {got[:12]}..., but {where} was built with "
                         f"{_describe(config)}; its descriptors are only comparable with those weights "
                         "(pass them with --vgg-weights, or rebuild the database)")


def _url_hash_prefix() -> str:
    """The SHA-256 prefix in the published file's name (``vgg16-397923af.pth`` -> ``397923af``)."""
    return Path(VGG16_URL).stem.rsplit("-", 1)[-1]
