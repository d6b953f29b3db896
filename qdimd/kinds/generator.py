"""Seeded masks of any kind: mask ``i`` of seed ``s`` is a pure function of (kind spec, size,
options, ``s``, ``i``), drawn from :func:`qdimd.masks.generator.mask_rng` ``(s, i)`` alone.

Every kind is a sampled record plus a deterministic render (``sample_<kind>_params`` /
``render_<kind>``); :class:`KindParams` wraps the record with the kind's name, index and seed
for manifests, and :func:`render_kind_params` rebuilds the mask from it.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ..masks.generator import MaskGenerator, mask_rng
from ..masks.params import MaskConfig, MaskParams
from .box import BoxParams, render_box, sample_box_params
from .deepfill import DeepfillParams, render_deepfill, sample_deepfill_params
from .lama import LAMA_KINDS, LamaParams, render_lama, sample_lama_params
from .mat import MatParams, render_mat, sample_mat_params
from .records import record_from_dict, record_to_dict
from .spec import KindSpec, parse_kind

if TYPE_CHECKING:  # pragma: no cover
    from ..strokes.store import StrokeStore

__all__ = ["KindGenerator", "KindParams", "create_generator", "render_kind_params", "sample_kind_params"]

_PARAMS = {"mat": MatParams, "comodgan": MatParams, "deepfill": DeepfillParams, "box": BoxParams,
           **{k: LamaParams for k in LAMA_KINDS}}
_CACHE_BYTES = 1 << 24
"""Masks drawn by :meth:`KindGenerator.params` kept for its next ``render`` (16 MiB of them)."""


@dataclass(frozen=True)
class KindParams:
    """One mask of any kind: enough to rebuild it (a manifest row holds :meth:`to_dict`).

    Attributes:
        kind: the kind's name.
        index, seed: which mask this is.
        params: the kind's record (:class:`qdimd.masks.params.MaskParams` for ``qdimd``).
        draws: draws a targeted generator made until one was accepted (1 otherwise).
    """

    kind: str
    index: int
    seed: int
    params: Any
    draws: int = 1

    def to_dict(self) -> dict[str, Any]:
        inner = self.params.to_dict() if self.kind == "qdimd" else record_to_dict(self.params)
        return {"kind": self.kind, "index": self.index, "seed": self.seed, "draws": self.draws, "params": inner}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "KindParams":
        """Rebuild from :meth:`to_dict` output.

        Raises:
            ValueError: unknown kind or a malformed record.
        """
        try:
            kind, inner = data["kind"], data["params"]
            index, seed, draws = int(data["index"]), int(data["seed"]), int(data.get("draws", 1))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"Expected a kind record with kind, index, seed, params; got {data!r} ({exc})") from None
        if kind == "qdimd":
            return cls(kind, index, seed, MaskParams.from_dict(inner), draws)
        if kind not in _PARAMS:
            raise ValueError(f"Expected a kind in {('qdimd', *_PARAMS)}, got {kind!r}")
        return cls(kind, index, seed, record_from_dict(_PARAMS[kind], inner), draws)


def _sample(rng: np.random.Generator, name: str, options, height: int, width: int, out: np.ndarray):
    """The record of one non-qdimd kind, its mask drawn into ``out``."""
    if name in LAMA_KINDS:
        return sample_lama_params(rng, name, height, width, options, out=out)
    if name in ("mat", "comodgan"):
        return sample_mat_params(rng, height, width, options, out=out)
    if name == "deepfill":
        params = sample_deepfill_params(rng, height, width, options)
        render_deepfill(params, height, width, out=out)
        return params
    params = sample_box_params(rng, height, width, options)
    render_box(params, height, width, out=out)
    return params


def render_kind_params(record: KindParams, height: int, width: int, *, config: MaskConfig | None = None,
                       store: "StrokeStore | None" = None, out: np.ndarray | None = None) -> np.ndarray:
    """The ``(H, W)`` bool hole of a record (``qdimd`` records need their ``config`` and ``store``).

    Args:
        out: optional ``(H, W)`` bool array to draw into (not for ``qdimd``).
    """
    kind, params = record.kind, record.params
    if kind == "qdimd":
        from ..masks.generator import render_mask
        from ..strokes.store import load_default_store

        if config is None or tuple(config.size) != (height, width):
            raise ValueError(f"Expected the MaskConfig of size {height}x{width} a qdimd record was drawn with, got {config!r}")
        return render_mask(params, config, store if store is not None else load_default_store())
    if kind in LAMA_KINDS:
        return render_lama(params, height, width, out=out)
    if kind in ("mat", "comodgan"):
        return render_mat(params, height, width, out=out)
    if kind == "deepfill":
        return render_deepfill(params, height, width, out=out)
    if kind == "box":
        return render_box(params, height, width, out=out)
    raise ValueError(f"Expected a kind in {('qdimd', *_PARAMS)}, got {kind!r}")


def pick_component(rng: np.random.Generator, spec: KindSpec):
    """The ``(name, options)`` a mask draws: a mixture draws one uniform, a single kind nothing."""
    if len(spec.components) == 1:
        name, options, _ = spec.components[0]
        return name, options
    total = sum(w for _, _, w in spec.components)
    u, acc = rng.random() * total, 0.0
    for name, options, weight in spec.components:
        acc += weight
        if u < acc:
            return name, options
    return spec.components[-1][:2]


def sample_kind_params(rng: np.random.Generator, spec: "KindSpec | str", height: int, width: int, *, index: int = 0,
                       seed: int = 0, qdimd: MaskGenerator | None = None, out: np.ndarray | None = None) -> KindParams:
    """Draw one mask of a spec.

    Args:
        rng: the mask's generator, normally ``mask_rng(seed, index)``.
        spec: a :class:`KindSpec` or ``--kind`` text.
        qdimd: the generator whose config, store and pool ``qdimd`` components use.
        out: optional ``(H, W)`` bool array; unless the record is ``qdimd``, it receives the mask
            (rejection-sampled kinds render it anyway).

    Returns:
        The record.
    """
    spec = parse_kind(spec)
    name, options = pick_component(rng, spec)
    if name == "qdimd":
        if qdimd is None:
            raise ValueError("Expected a MaskGenerator for the qdimd component, got None")
        from ..masks.generator import sample_mask_params

        params = sample_mask_params(rng, qdimd.config, qdimd.store, qdimd.pool, index, seed)
        return KindParams("qdimd", int(index), int(seed), params)
    if out is None:
        out = np.empty((height, width), bool)
    return KindParams(name, int(index), int(seed), _sample(rng, name, options, height, width, out))


class KindGenerator:
    """Seeded masks of a kind or mixture, with :class:`qdimd.masks.generator.MaskGenerator`'s API.

    Args:
        kind: a :class:`KindSpec` or ``--kind`` text, e.g. ``"lama-thick"`` or ``"mat:0.5,qdimd:0.5"``.
        config: size (and, for ``qdimd`` components, Algorithm 1's parameters).
        store: stroke store for ``qdimd`` components; None = the bundled sample (loaded only if used).
        seed: >= 0.

    Example:
        >>> gen = KindGenerator("lama-thick", MaskConfig(size=(256, 256)), seed=0)
        >>> hole = gen.generate(7)            # (256, 256) bool, True = hole
        >>> holes = gen.batch(0, 16)          # (16, 256, 256) bool
    """

    def __init__(self, kind: "KindSpec | str" = "qdimd", config: MaskConfig = MaskConfig(),
                 store: "StrokeStore | None" = None, seed: int = 0):
        if seed < 0:
            raise ValueError(f"Expected seed >= 0, got {seed}")
        self.spec, self.config, self.seed = parse_kind(kind), config, int(seed)
        self.size = tuple(config.size)
        self.qdimd = MaskGenerator(config, store, seed) if "qdimd" in self.spec.names else None
        self.store = None if self.qdimd is None else self.qdimd.store
        self._holes: OrderedDict = OrderedDict()
        self._cache = max(1, _CACHE_BYTES // (self.size[0] * self.size[1]))

    def params(self, index: int) -> KindParams:
        """The record of mask ``index`` (its mask is kept for a following :meth:`render`)."""
        hole = np.empty(self.size, bool)
        record = sample_kind_params(mask_rng(self.seed, index), self.spec, *self.size, index=index,
                                    seed=self.seed, qdimd=self.qdimd, out=hole)
        if record.kind != "qdimd":
            self._holes[index] = (record.params, hole)
            if len(self._holes) > self._cache:
                self._holes.popitem(last=False)
        return record

    def generate(self, index: int) -> np.ndarray:
        """Mask ``index``: ``(H, W)`` bool, True = hole."""
        return self.render([self.params(index)])[0]

    def render(self, records: list[KindParams], out: np.ndarray | None = None) -> np.ndarray:
        """Render many records into ``(B, H, W)`` bool."""
        h, w = self.size
        if out is None:
            out = np.empty((len(records), h, w), dtype=bool)
        qd = [i for i, r in enumerate(records) if r.kind == "qdimd"]
        if qd:
            if self.qdimd is None:
                raise ValueError(f"Expected records of {self.spec}, got a qdimd record")
            out[qd] = self.qdimd.render([records[i].params for i in qd])
        for i, record in enumerate(records):
            if record.kind == "qdimd":
                continue
            cached = self._holes.get(record.index)
            if cached is not None and cached[0] is record.params:
                out[i] = cached[1]
            else:
                render_kind_params(record, h, w, out=out[i])
        return out

    def batch(self, start: int, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """Masks ``start .. start + n - 1``: ``(n, H, W)`` bool (written into ``out`` if given)."""
        return self.sample_batch(start, n, out)[1]

    def sample_batch(self, start: int, n: int, out: np.ndarray | None = None) -> tuple[list[KindParams], np.ndarray]:
        """Records and masks of ``start .. start + n - 1``, each mask drawn once."""
        if start < 0 or n < 0:
            raise ValueError(f"Expected start >= 0 and n >= 0, got start={start}, n={n}")
        return self.sample_indices(range(start, start + n), out)

    def sample_indices(self, indices, out: np.ndarray | None = None) -> tuple[list[KindParams], np.ndarray]:
        """Records and ``(n, H, W)`` bool masks of any ``indices`` (e.g. a shuffled batch), each drawn once."""
        h, w = self.size
        if out is None:
            out = np.empty((len(indices), h, w), dtype=bool)
        records = [sample_kind_params(mask_rng(self.seed, int(i)), self.spec, h, w, index=int(i), seed=self.seed,
                                      qdimd=self.qdimd, out=out[k]) for k, i in enumerate(indices)]
        qd = [k for k, r in enumerate(records) if r.kind == "qdimd"]
        if qd:
            out[qd] = self.qdimd.render([records[k].params for k in qd])
        return records, out

    def __iter__(self) -> Iterator[np.ndarray]:
        """Masks 0, 1, 2, ... forever."""
        return map(self.generate, itertools.count())


def create_generator(config: MaskConfig, store: "StrokeStore | None" = None, seed: int = 0,
                     kind: "KindSpec | str | None" = None):
    """:class:`qdimd.masks.generator.MaskGenerator` for plain ``qdimd`` (or None), else :class:`KindGenerator`."""
    if kind is None or parse_kind(kind).is_default:
        return MaskGenerator(config, store, seed)
    return KindGenerator(kind, config, store, seed)
