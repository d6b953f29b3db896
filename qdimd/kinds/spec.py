"""Kind specifications: which mask kind(s) to draw, with options and mixture weights.

Syntax (the ``--kind`` option): components separated by commas, each ``NAME[key=value,...]:WEIGHT``
with the options and the weight optional, e.g. ``lama-thick``, ``mat[hole_range=0.1..0.6]``,
``lama-thick:0.5,qdimd:0.5``. Values are numbers, ``lo..hi`` ranges, ``true``/``false`` or
words. A mixture picks one component per mask from the mask's own generator (weights
renormalised); a single component draws nothing for the pick, so ``qdimd`` alone gives
exactly :class:`qdimd.masks.generator.MaskGenerator`'s masks.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from .box import BoxOptions
from .deepfill import DeepfillOptions
from .lama import LAMA_KINDS, LamaOptions
from .mat import MatOptions

__all__ = ["KIND_NAMES", "KindSpec", "default_options", "parse_kind"]

KIND_NAMES: tuple[str, ...] = ("qdimd",) + LAMA_KINDS + ("mat", "comodgan", "deepfill", "box")
"""Every kind, ``qdimd`` (Algorithm 1, the default) first."""


def default_options(name: str):
    """The options record of a kind with its defaults (None for ``qdimd``, configured by MaskConfig)."""
    if name not in KIND_NAMES:
        raise ValueError(f"Expected a mask kind in {KIND_NAMES}, got {name!r}")
    if name == "qdimd":
        return None
    if name in LAMA_KINDS:
        return LamaOptions()
    if name in ("mat", "comodgan"):
        return MatOptions(variant="comodgan" if name == "comodgan" else "auto")
    return DeepfillOptions() if name == "deepfill" else BoxOptions()


def _with_options(name: str, options: dict[str, Any]):
    base = default_options(name)
    if not options:
        return base
    known = () if base is None else tuple(f.name for f in fields(base))
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"Expected options of kind {name!r} from {list(known)}, got {unknown}"
                         + (" (configure qdimd with the generator's own flags)" if name == "qdimd" else ""))
    options = {k: str(v) if isinstance(getattr(base, k), str) and not isinstance(v, str) else v
               for k, v in options.items()}
    result = replace(base, **options)
    if name == "comodgan" and result.variant != "comodgan":
        raise ValueError(f"Expected no variant for comodgan (use kind 'mat' for MAT's variants), got {result.variant!r}")
    return result


@dataclass(frozen=True)
class KindSpec:
    """One kind or a mixture: ``components`` are ``(name, options, weight)`` with weights > 0."""

    components: tuple[tuple[str, Any, float], ...]

    def __post_init__(self) -> None:
        if not self.components:
            raise ValueError("Expected at least one kind, got none")
        for name, _, weight in self.components:
            if name not in KIND_NAMES:
                raise ValueError(f"Expected a mask kind in {KIND_NAMES}, got {name!r}")
            if not weight > 0:
                raise ValueError(f"Expected a weight > 0 for kind {name!r}, got {weight!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self.components)

    @property
    def is_default(self) -> bool:
        """Plain ``qdimd`` (the generator without kinds)."""
        return self.names == ("qdimd",)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (``config.json``); inverse of :meth:`from_dict`."""
        from .records import record_to_dict

        return {"components": [{"kind": name, "weight": weight,
                                "options": None if options is None else record_to_dict(options)}
                               for name, options, weight in self.components]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "KindSpec":
        try:
            items = [(c["kind"], c.get("options") or {}, float(c["weight"])) for c in data["components"]]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"Expected a kind spec dict with components, got {data!r} ({exc})") from None
        return cls(tuple((name, _with_options(name, _tupled(options)), weight) for name, options, weight in items))

    def __str__(self) -> str:
        parts = []
        for name, options, weight in self.components:
            text = name
            changed = {} if options is None else {
                f.name: getattr(options, f.name) for f in fields(options)
                if getattr(options, f.name) != getattr(default_options(name), f.name)}
            if changed:
                text += "[" + ",".join(f"{k}={_format(v)}" for k, v in changed.items()) + "]"
            if len(self.components) > 1:
                text += f":{weight:g}"
            parts.append(text)
        return ",".join(parts)


def _tupled(options: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


def _format(value: Any) -> str:
    if isinstance(value, tuple):
        return "..".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _value(text: str) -> Any:
    text = text.strip()
    if ".." in text:
        return tuple(_value(part) for part in text.split(".."))
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _split_top(text: str) -> list[str]:
    """Split on commas outside ``[...]``."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"Expected balanced [ ] in kind {text!r}, got a stray ']'")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise ValueError(f"Expected balanced [ ] in kind {text!r}, got an unclosed '['")
    parts.append("".join(current))
    return parts


def parse_kind(text: "str | KindSpec") -> KindSpec:
    """Parse a ``--kind`` value (see the module docstring).

    Raises:
        ValueError: unknown kind or option, bad value or weight.
    """
    if isinstance(text, KindSpec):
        return text
    components = []
    for part in _split_top(str(text)):
        part = part.strip()
        if not part:
            raise ValueError(f"Expected NAME[options]:WEIGHT components separated by commas, got {text!r}")
        weight = 1.0
        head, _, tail = part.rpartition(":")
        if head and "]" not in tail:
            try:
                weight = float(tail)
            except ValueError:
                raise ValueError(f"Expected a number as the weight of {head!r}, got {tail!r}") from None
            part = head
        name, options = part, {}
        if "[" in part:
            if not part.endswith("]"):
                raise ValueError(f"Expected NAME[key=value,...], got {part!r}")
            name, body = part[:-1].split("[", 1)
            for item in _split_top(body):
                key, sep, value = item.partition("=")
                if not sep or not key.strip():
                    raise ValueError(f"Expected key=value options in {part!r}, got {item!r}")
                options[key.strip()] = _value(value)
        name = name.strip()
        if name not in KIND_NAMES:
            raise ValueError(f"Expected a mask kind in {KIND_NAMES}, got {name!r}")
        components.append((name, _with_options(name, options), weight))
    return KindSpec(tuple(components))
