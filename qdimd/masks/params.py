"""The records of the generator: :class:`MaskConfig` (Algorithm 1's parameters) and
:class:`MaskParams` (one mask's sampled parameters, enough to rebuild it).

Both are frozen and JSON round-trippable (``to_dict``/``from_dict``): the config
goes to ``config.json``, a mask's record to its manifest row. See
:mod:`qdimd.masks.generator` for how they are sampled and rendered.

Mask versions (:data:`MASK_VERSION`): the definition of which mask a seed gives is
versioned, and both records carry the version they were made with.

* 1 (qdimd 0.x before issue 12): strokes keep their Quick, Draw! position, so holes
  crowd the top-left corner; no emptiness check after augmentation.
* 2: the union of a mask's strokes is fitted to the canvas (:mod:`qdimd.masks.generator`),
  and an augmented mask that came out empty has its augmentation redrawn.

A config or record without a ``mask_version``/``version`` key was written before
versions existed: it reads as version 1 and still samples and renders exactly as then.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from .render import RENDERERS
from ..strokes.splits import check_split

if TYPE_CHECKING:  # pragma: no cover
    from .augment import AugmentConfig, AugmentParams

MASK_VERSION = 2
"""The mask definition this qdimd samples by default (see the module docstring)."""
MASK_VERSIONS: tuple[int, ...] = (1, 2)


def check_mask_version(version: int) -> int:
    """``version`` as an int if this qdimd can sample and render it, else ValueError."""
    if isinstance(version, bool) or version not in MASK_VERSIONS:
        raise ValueError(f"Expected a mask version in {MASK_VERSIONS} (this qdimd makes version {MASK_VERSION};"
                         f" a newer qdimd wrote this record?), got {version!r}")
    return int(version)


MAX_STROKES = 1000
"""Upper bound of ``strokes_mean``, ``strokes_std`` and ``min_strokes`` (Algorithm 1 draws 4 +- 2)."""
MAX_SIDE = 16384
"""Largest mask side (and ``reference_size``) accepted: a 16384 x 16384 mask is 256 MiB of bools."""
MAX_UPSCALE = 100.0
"""Largest ``upscale_max`` (Algorithm 1: 1.5); beyond it every stroke leaves the centre crop."""


def check_config_bounds(config: "MaskConfig") -> None:
    """Every number of a :class:`MaskConfig` finite and of a sane magnitude, else ValueError (checked
    before the lower-level checks, so ``nan``/``inf``/``1e9`` fail with a clear message up front)."""
    import math

    if max(config.size) > MAX_SIDE:
        raise ValueError(f"Expected mask sides <= {MAX_SIDE}, got size {config.size}")
    bounds = {"strokes_mean": (0.0, MAX_STROKES), "strokes_std": (0.0, MAX_STROKES), "min_strokes": (1, MAX_STROKES),
              "width_min": (0.0, float(MAX_SIDE)), "width_max": (0.0, float(MAX_SIDE)),
              "reference_size": (1, MAX_SIDE), "upscale_min": (0.0, MAX_UPSCALE), "upscale_max": (0.0, MAX_UPSCALE)}
    for name, (lo, hi) in bounds.items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"Expected a number for {name}, got {value!r}")
        if not math.isfinite(value) or not lo <= value <= hi:
            raise ValueError(f"Expected a finite {name} in [{lo:g}, {hi:g}], got {value!r}")
    if config.width_max > config.reference_size:
        raise ValueError(f"Expected width_max <= reference_size ({config.reference_size} px: a stroke as wide as "
                         f"the image), got {config.width_max}")


@dataclass(frozen=True)
class MaskConfig:
    """Parameters of Algorithm 1 (defaults: Iskakov 2018).

    Args:
        size: ``(H, W)`` of the masks.
        strokes_mean, strokes_std: strokes per mask ~ ``round(N(mean, std))``.
        min_strokes: lower clip of the stroke count.
        width_min, width_max: stroke width ~ ``U(width_min, width_max)`` px at ``reference_size``.
        reference_size: side at which the widths hold; they scale with ``min(H, W) / reference_size``.
        upscale_min, upscale_max: upscale ~ ``U(upscale_min, upscale_max)`` before the centre crop.
        split: ``"train"``/``"test"`` half of the categories (:mod:`qdimd.strokes.splits`), or None for all.
        renderer: ``"auto"``, ``"cairo"`` or ``"opencv"`` (:mod:`qdimd.masks.render`).
        augment: optional :class:`qdimd.masks.augment.AugmentConfig` applied after rendering.
        allow_empty: keep a mask none of whose stroke points lands inside the centre crop, as
            Algorithm 1 as printed does (about 0.8% of its masks at 256 are then empty). By
            default such a mask's strokes are redrawn from the same generator, so no mask is
            empty (for widths over 1.5 px), and (version 2) an augmentation that empties a mask is redrawn.
        mask_version: the mask definition (:data:`MASK_VERSION`; 1 = the placement before issue 12).
    """

    size: tuple[int, int] = (256, 256)
    strokes_mean: float = 4.0
    strokes_std: float = 2.0
    min_strokes: int = 1
    width_min: float = 5.0
    width_max: float = 15.0
    reference_size: int = 256
    upscale_min: float = 1.0
    upscale_max: float = 1.5
    split: str | None = None
    renderer: str = "auto"
    augment: "AugmentConfig | None" = None
    allow_empty: bool = False
    mask_version: int = MASK_VERSION

    def __post_init__(self) -> None:
        size = tuple(int(v) for v in np.atleast_1d(self.size))
        if len(size) == 1:
            size = (size[0], size[0])
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"Expected size (H, W) with H, W >= 1, got {self.size!r}")
        object.__setattr__(self, "size", size)
        check_config_bounds(self)  # finite, sane magnitudes (added by files12, issue 12 point 6)
        if self.strokes_std < 0:
            raise ValueError(f"Expected strokes_std >= 0, got {self.strokes_std}")
        if self.min_strokes < 1:
            raise ValueError(f"Expected min_strokes >= 1, got {self.min_strokes}")
        if not 0 < self.width_min <= self.width_max:
            raise ValueError(f"Expected 0 < width_min <= width_max, got {self.width_min}, {self.width_max}")
        if self.reference_size < 1:
            raise ValueError(f"Expected reference_size >= 1, got {self.reference_size}")
        if not 0 < self.upscale_min <= self.upscale_max:
            raise ValueError(f"Expected 0 < upscale_min <= upscale_max, got {self.upscale_min}, {self.upscale_max}")
        check_split(self.split)
        if self.renderer not in RENDERERS:
            raise ValueError(f"Expected renderer in {RENDERERS}, got {self.renderer!r}")
        object.__setattr__(self, "mask_version", check_mask_version(self.mask_version))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (saved as ``config.json``); inverse of :meth:`from_dict`."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["size"] = list(self.size)
        data["augment"] = None if self.augment is None else asdict(self.augment)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MaskConfig":
        """Rebuild from :meth:`to_dict` output (a dict without ``mask_version`` is version 1).

        Raises:
            ValueError: unknown keys or invalid values.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Expected MaskConfig keys from {sorted(known)}, got unknown {sorted(unknown)}")
        data = dict(data)
        data.setdefault("mask_version", 1)
        if data.get("augment") is not None:
            from .augment import AugmentConfig

            data["augment"] = AugmentConfig(**data["augment"])
        if "size" in data:
            data["size"] = tuple(data["size"])
        return cls(**data)


@dataclass(frozen=True)
class MaskParams:
    """Everything needed to rebuild one mask (a manifest row holds :meth:`to_dict`).

    Attributes:
        index, seed: which mask this is.
        drawings: drawing id of each stroke in the store.
        strokes: global stroke id of each stroke in the store.
        widths: stroke widths in output px before the upscale (drawn ``width * upscale``).
        upscale: the enlargement about the centre before the centre crop.
        offset: extra ``(dy, dx)`` translation in output px.
        clip_box: ``(top, left, bottom, right)``, bottom/right exclusive: holes outside it are
            cleared after rendering and augmentation, so nothing remains outside.
        augment: the augmentation draw, or None.
        version: the mask definition (:data:`MASK_VERSION`) that places the strokes.
        fit_box: version 2: ``(top, left, bottom, right)`` that the strokes' union is fitted into
            (None = the whole canvas).
        mirror: version 2: the strokes mirrored ``(left-right, top-bottom)`` about the box centre.
    """

    index: int
    seed: int
    drawings: tuple[int, ...]
    strokes: tuple[int, ...]
    widths: tuple[float, ...]
    upscale: float
    offset: tuple[float, float] = (0.0, 0.0)
    clip_box: tuple[int, int, int, int] | None = None
    augment: "AugmentParams | None" = None
    version: int = MASK_VERSION
    fit_box: tuple[float, float, float, float] | None = None
    mirror: tuple[bool, bool] = (False, False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; :meth:`from_dict` inverts it exactly (floats round-trip through JSON)."""
        return {
            "version": self.version,
            "index": self.index,
            "seed": self.seed,
            "drawings": list(self.drawings),
            "strokes": list(self.strokes),
            "widths": list(self.widths),
            "upscale": self.upscale,
            "offset": list(self.offset),
            "clip_box": None if self.clip_box is None else list(self.clip_box),
            "augment": None if self.augment is None else self.augment.to_dict(),
            "fit_box": None if self.fit_box is None else list(self.fit_box),
            "mirror": list(self.mirror),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MaskParams":
        """Rebuild from :meth:`to_dict` output (a row without ``version`` is version 1).

        Raises:
            ValueError: missing keys, an unknown version, or strokes/drawings/widths of different lengths.
        """
        try:
            augment = data.get("augment")
            if augment is not None:
                from .augment import AugmentParams

                augment = AugmentParams.from_dict(augment)
            params = cls(
                index=int(data["index"]),
                seed=int(data["seed"]),
                drawings=tuple(int(v) for v in data["drawings"]),
                strokes=tuple(int(v) for v in data["strokes"]),
                widths=tuple(float(v) for v in data["widths"]),
                upscale=float(data["upscale"]),
                offset=tuple(float(v) for v in data.get("offset", (0.0, 0.0))),
                clip_box=None if data.get("clip_box") is None else tuple(int(v) for v in data["clip_box"]),
                augment=augment,
                version=check_mask_version(data.get("version", 1)),
                fit_box=None if data.get("fit_box") is None else tuple(float(v) for v in data["fit_box"]),
                mirror=tuple(bool(v) for v in data.get("mirror", (False, False))),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"Expected a MaskParams dict with index, seed, drawings, strokes, widths, upscale; got {data!r} ({exc})") from None
        if not len(params.drawings) == len(params.strokes) == len(params.widths):
            raise ValueError(f"Expected as many drawings, strokes and widths, got {len(params.drawings)}, {len(params.strokes)}, {len(params.widths)}")
        return params
