"""Named model factories (timm's ``@register_model`` style): ``create_model("pconv256")``.

Each factory is a small function; the registry is a dict filled once, at import,
by the decorator. The name and keyword arguments are all a checkpoint needs to
rebuild a model.
"""
from __future__ import annotations

import math
from typing import Callable

from torch import nn

from .unet import PConvUNet, SimKUNet

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register ``fn`` under its function name (import-time only)."""
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names :func:`create_model` knows."""
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a model by name.

    Args:
        name: one of :func:`list_models` (``pconv256``, ``pconv512``, ``pconv``, ``sim0``,
            ``sim1``, ``sim2``, ``simk``).
        **kwargs: forwarded to the factory (e.g. ``width``, ``k``, ``image_size``).

    Raises:
        ValueError: unknown name or bad arguments.
    """
    if name not in _REGISTRY:
        raise ValueError(f"Expected a model name in {list_models()}, got {name!r}")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as exc:
        raise ValueError(f"Bad arguments {kwargs} for model {name!r}: {exc}") from None


def default_layer_size(image_size: int) -> int:
    """UNet depth for a training size: 7 at 256, 8 at 512 and above, log2(size) - 1 below."""
    if image_size < 4:
        raise ValueError(f"Expected image_size >= 4, got {image_size}")
    return max(1, min(8, int(math.log2(image_size)) - 1))


@register_model
def pconv(image_size: int = 256, width: float = 1.0, layer_size: int | None = None) -> PConvUNet:
    """PConv UNet for ``image_size`` (depth from :func:`default_layer_size` unless given)."""
    return PConvUNet(layer_size or default_layer_size(image_size), width)


@register_model
def pconv256(width: float = 1.0) -> PConvUNet:
    """The paper's PConv UNet at 256 px (layer_size 7, ~25.8 M parameters)."""
    return PConvUNet(7, width)


@register_model
def pconv512(width: float = 1.0) -> PConvUNet:
    """The paper's PConv UNet at 512 px (layer_size 8)."""
    return PConvUNet(8, width)


@register_model
def simk(k: int = 1, image_size: int = 256, width: float = 1.0, layer_size: int | None = None) -> SimKUNet:
    """Sim-K UNet with ``k`` auxiliary images."""
    return SimKUNet(k, layer_size or default_layer_size(image_size), width)


@register_model
def sim0(image_size: int = 256, width: float = 1.0, layer_size: int | None = None) -> SimKUNet:
    """Sim-0: the Sim-K UNet without auxiliary images."""
    return simk(0, image_size, width, layer_size)


@register_model
def sim1(image_size: int = 256, width: float = 1.0, layer_size: int | None = None) -> SimKUNet:
    """Sim-1: one retrieved image."""
    return simk(1, image_size, width, layer_size)


@register_model
def sim2(image_size: int = 256, width: float = 1.0, layer_size: int | None = None) -> SimKUNet:
    """Sim-2: two retrieved images."""
    return simk(2, image_size, width, layer_size)
