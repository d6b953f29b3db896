"""Pretrained weights: explicit file, torch.hub's cache, or download; always ``weights_only=True``.

Shared by VGG-16 (losses, retrieval) and Inception (evaluation). The search
order is the user's file, then ``<torch.hub.get_dir()>/checkpoints/<name>``
(``$TORCH_HOME/hub/checkpoints`` by default), then
``torch.hub.load_state_dict_from_url`` with the hash prefix in the file name
checked. Offline without weights is an :class:`~qdimd.errors.InputError` that
says exactly where to put the file.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlparse

import torch

from qdimd.errors import InputError


def hub_checkpoint_path(url: str) -> Path:
    """Where torch.hub caches the file of ``url``: ``<torch.hub.get_dir()>/checkpoints/<file name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict with ``torch.load(weights_only=True)`` onto the CPU.

    Raises:
        InputError: missing file, corrupt or foreign file, or not a mapping of
            names to tensors; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such weights file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable PyTorch weights file ({first[:200]})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise InputError(f"{path}: expected a state dict (names -> tensors), got {type(state).__name__}")
    return as_float32(state)


def as_float32(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating-point tensors as float32, the networks' dtype (a file saved in float16 or bfloat16 would
    otherwise be loaded by ``assign=True`` as it is and fail at the first forward); others unchanged."""
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_hub_state_dict(
    url: str, weights: str | os.PathLike | None = None, *, progress: bool = True, option: str = "--weights",
    file_name: str | None = None, random_option: str | None = None,
) -> tuple[dict[str, torch.Tensor], str]:
    """State dict from ``weights``, else torch.hub's cache, else a download of ``url``.

    Args:
        url: published checkpoint address; its file name (``name-<sha256 prefix>.pth``)
            is the cache name and the hash that the download must match.
        weights: explicit file; when given nothing else is tried.
        progress: download progress bar.
        option: the CLI option to mention in the offline error.
        file_name: cache name (``name-<sha256 prefix>.ext``) when the URL's own file name is not one.
        random_option: the CLI flag that runs without the file on fixed random weights, named in the
            offline error for smoke tests.

    Returns:
        ``(state_dict, source)`` where ``source`` names the file or URL used.

    Raises:
        InputError: offline (or the download fails) and no weights, or a bad file.
    """
    if weights is not None:
        return load_state_dict_file(weights), str(weights)
    cached = hub_checkpoint_path(url) if file_name is None else hub_checkpoint_path(url).with_name(file_name)
    if cached.is_file():
        return load_state_dict_file(cached), str(cached)
    try:
        state = torch.hub.load_state_dict_from_url(
            url, map_location="cpu", progress=progress, check_hash=True, weights_only=True, file_name=file_name
        )
    except (URLError, OSError, TimeoutError) as exc:
        smoke = "" if random_option is None else (
            f"; for a smoke test without it, {random_option} uses fixed random weights (scores meaningless)")
        raise InputError(
            f"cannot download {url} ({getattr(exc, 'reason', exc)}): download it into {cached} "
            f"or pass {option} PATH{smoke}"
        ) from None
    except RuntimeError as exc:  # hash mismatch, or a file that is no checkpoint
        raise InputError(f"{url}: download rejected ({str(exc).strip()[:200]}); remove {cached} and retry, or pass {option} PATH") from None
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{cached}: downloaded file is not a readable PyTorch weights file ({exc}); delete it and retry") from None
    return as_float32(state), str(cached)


def check_state_dict(state: dict, expected: dict[str, tuple[int, ...]], source: str, network: str,
                     library: str = "torchvision") -> None:
    """Raise unless ``state`` has exactly the keys and shapes of ``expected``.

    Args:
        state: the loaded state dict.
        expected: ``{key: shape}`` of the network (built on the meta device).
        source: the file or URL, named in the message.
        network: the network the file should hold, e.g. ``"VGG-16"``.
        library: whose published file it is, named in the message.

    Raises:
        InputError: missing or unexpected keys, or a tensor of another shape.
    """
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        raise InputError(
            f"{source}: not a {library} {network} state dict: expected keys "
            f"{', '.join(list(expected)[:3])} ... {list(expected)[-1]} ({len(expected)} tensors); "
            f"missing {missing[:4]}{'...' if len(missing) > 4 else ''}, "
            f"unexpected {extra[:4]}{'...' if len(extra) > 4 else ''}"
        )
    wrong = [(k, tuple(state[k].shape), shape) for k, shape in expected.items() if tuple(state[k].shape) != shape]
    if wrong:
        k, got, want = wrong[0]
        raise InputError(
            f"{source}: {network} tensor {k} has shape {got}, expected {want} "
            f"({len(wrong)} tensor(s) differ; a different width or a different network?)"
        )
