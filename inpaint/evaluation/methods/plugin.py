"""``NAME=py:MODULE:FUNCTION`` and methods other packages register: any Python callable scored like a built-in.

The callable takes ``(image, hole)``: ``image`` ``(H, W, 3)`` uint8 RGB, ``hole``
``(H, W)`` bool (True = missing), both copies it may change; it returns the
``(H, W, 3)`` uint8 RGB output (known pixels may change: they are composited
back before scoring, and their change is reported as ``known_drift``). A callable
with the attribute ``batched = True`` gets ``(B, H, W, 3)`` and ``(B, H, W)``
and returns ``(B, H, W, 3)``, for models that run faster on batches (up to
``--batch-size`` pairs).

Other packages register methods under the entry-point group
``inpaint.methods`` (``[project.entry-points."inpaint.methods"] mymodel =
"mypkg.eval:inpaint"``); ``--method mymodel`` then uses it. Built-in names win.

An import that fails, a missing function, a call that raises or an output of
another type, dtype or shape stops the run with an :class:`~qdimd.errors.InputError`
naming the method (and the pair's stem), never a traceback; the plug-in's
line that raised is quoted.
"""
from __future__ import annotations

import importlib
import traceback
from importlib.metadata import entry_points

import numpy as np

from qdimd.errors import InputError

from .protocol import Filled, Query, check_output

ENTRY_POINT_GROUP = "inpaint.methods"


def _group():
    eps = entry_points()
    return eps.select(group=ENTRY_POINT_GROUP) if hasattr(eps, "select") else eps.get(ENTRY_POINT_GROUP, [])


def entry_point_names() -> list[str]:
    """Names registered under ``inpaint.methods`` by the installed distributions, sorted."""
    return sorted({ep.name for ep in _group()})


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def resolve_callable(label: str, target: str):
    """The function of ``target``: ``MODULE:FUNCTION`` or an entry-point name of ``inpaint.methods``.

    Raises:
        InputError: a module that cannot be imported, a missing or non-callable function, an unknown entry point.
    """
    if ":" not in target:
        found = [ep for ep in _group() if ep.name == target]
        if not found:
            raise InputError(f"method {label}: no entry point {target!r} in group {ENTRY_POINT_GROUP} "
                             f"(installed: {', '.join(entry_point_names()) or 'none'})")
        try:
            fn = found[0].load()
        except Exception as exc:  # noqa: BLE001 - any failure of foreign code is reported, not raised
            raise InputError(f"method {label}: entry point {found[0].value} failed to load: "
                             f"{type(exc).__name__}: {exc}{_where(exc)}") from None
        return _callable(label, fn, found[0].value)
    module_name, _, name = target.rpartition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise InputError(f"method {label}: cannot import module {module_name!r} ({exc}); is it on PYTHONPATH?") from None
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"method {label}: importing {module_name} failed: {type(exc).__name__}: {exc}{_where(exc)}") from None
    if not hasattr(module, name):
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise InputError(f"method {label}: module {module_name} has no function {name!r} "
                         f"(it defines: {', '.join(public[:10]) or 'none'})")
    return _callable(label, getattr(module, name), target)


def _callable(label: str, fn, where: str):
    if not callable(fn):
        raise InputError(f"method {label}: {where} is not callable (got {type(fn).__name__}), expected a function (image, hole) -> image")
    return fn


class PluginMethod:
    """A callable run under the protocol: inputs copied, errors and outputs checked per pair (or batch)."""

    def __init__(self, label: str, fn):
        self.label, self.fn = label, fn
        self.batched = bool(getattr(fn, "batched", False))

    def _call(self, stems: list[str], *args):
        try:
            return self.fn(*args)
        except Exception as exc:  # noqa: BLE001 - the plug-in's own error, reported by method and stem
            pairs = f"pair {stems[0]}" if len(stems) == 1 else f"pairs {', '.join(stems[:3])}{', ...' if len(stems) > 3 else ''}"
            raise InputError(f"method {self.label} failed on {pairs}: {type(exc).__name__}: {exc}{_where(exc)}") from None

    def fill_batch(self, images: list[np.ndarray], holes: list[np.ndarray], queries: list[Query]) -> list[Filled]:
        """Outputs of ``images`` under ``holes``, one call per pair, or one call when the callable is batched."""
        stems = [q.stem for q in queries]
        if self.batched:
            images_b, holes_b = np.stack(images), np.stack(holes)
            out = check_output(self._call(stems, images_b, holes_b), images_b.shape, self.label,
                               stems[0] if len(stems) == 1 else f"{stems[0]}..{stems[-1]} (batched)")
            return [Filled(o) for o in out]
        return [Filled(check_output(self._call([q.stem], image.copy(), hole.copy()), image.shape, self.label, q.stem))
                for image, hole, q in zip(images, holes, queries)]
