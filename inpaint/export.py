"""Export a trained PConv or Sim-K UNet to TorchScript or ONNX (``inpaint export``).

The exported model is the network itself, with its mask input:
``model(image, valid)`` (Sim-K with ``k >= 1``: ``model(image, valid, aux)``), where
``image`` is ``(B, 3, H, W)`` ImageNet-normalised (values under the hole are
ignored), ``valid`` ``(B, 1, H, W)`` float (1 = known pixel), ``aux`` ``(B, 3k, H, W)``
(or ``(B, k, 3, H, W)``) normalised retrieved images, and the output ``I_out``
``(B, 3, H, W)``, normalised; the composite is ``valid * image + (1 - valid) * I_out``.
H and W must be multiples of ``2 ** layer_size`` (``"multiple"`` in the metadata).
A checkpoint with EMA weights (``inpaint train --ema``) exports them unless told otherwise.

How (and why not ``torch.jit.script`` of the UNet): the partial convolution's
functional core takes int-or-pair arguments and keyword-only flags and runs its
mask statistics under a disabled autocast, none of which TorchScript's compiler
accepts. The network is therefore *traced* at one size (its graph has no
data-dependent control flow: shapes only decide channel counts, which are fixed),
and a small *scripted* wrapper around the trace checks the inputs' shapes at run
time, so a wrong size fails with a clear message instead of a broadcast error.
:func:`export_checkpoint` then reloads the file and compares it with the eager
model on a second, different size and batch (``check``).

ONNX (``pip install 'qdimd[export]'``: ``onnx``, ``onnxscript``; ``onnxruntime``
for the check) goes through ``torch.onnx.export(dynamo=True)`` with dynamic
batch, H and W (declared as multiples of ``multiple``). Metadata (model name and
arguments, step, weights, normalisation) is stored in the TorchScript file as
the extra file ``metadata.json`` and in the ONNX model's ``metadata_props``.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from qdimd.errors import InputError
from qdimd.io import atomic_write_bytes, check_not_input

from .nn.unet import SimKUNet
from .nn.vgg import IMAGENET_MEAN, IMAGENET_STD
from .checkpoint import build_model, read_checkpoint

FORMATS = ("torchscript", "onnx")
WEIGHTS = ("auto", "ema", "model")
METADATA_FILE = "metadata.json"
_JIT_DEPRECATED = r".*torch\.jit\.\w+.* deprecated"   # torch 2.9+ warns on every torch.jit call; TorchScript is what was asked for


@contextlib.contextmanager
def _quiet_jit():
    """Hide torch.jit's deprecation and tracer warnings (:func:`export_checkpoint`'s check proves the trace general)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATED)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


class CheckedInputs(nn.Module):
    """Scripted front of a traced UNet: checks shapes, then runs it (PConv and Sim-0)."""

    def __init__(self, net: nn.Module, channels: int, multiple: int):
        super().__init__()
        self.net, self.channels, self.multiple = net, channels, multiple

    def check(self, image: torch.Tensor, valid: torch.Tensor) -> None:
        if image.dim() != 4 or image.size(1) != self.channels:
            raise ValueError(f"Expected image of shape (B, {self.channels}, H, W), got {image.shape}")
        if image.size(2) % self.multiple != 0 or image.size(3) % self.multiple != 0:
            raise ValueError(f"Expected H and W to be multiples of {self.multiple}, got {image.shape}")
        if valid.dim() != 4 or valid.size(0) != image.size(0) or valid.size(1) != 1 or valid.shape[2:] != image.shape[2:]:
            raise ValueError(f"Expected valid of shape (B, 1, H, W) matching the image {image.shape}, got {valid.shape}")

    def forward(self, image: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        self.check(image, valid)
        return self.net(image, valid)


class CheckedInputsAux(CheckedInputs):
    """:class:`CheckedInputs` for Sim-K with ``k >= 1`` auxiliary images."""

    def __init__(self, net: nn.Module, channels: int, multiple: int, k: int):
        super().__init__(net, channels, multiple)
        self.k = k

    def forward(self, image: torch.Tensor, valid: torch.Tensor, aux: Optional[torch.Tensor] = None) -> torch.Tensor:
        self.check(image, valid)
        if aux is None:
            raise ValueError(f"Expected {self.k} auxiliary images, got None")
        if aux.dim() == 5:
            aux = aux.flatten(1, 2)
        if aux.dim() != 4 or aux.size(0) != image.size(0) or aux.size(1) != 3 * self.k or aux.shape[2:] != image.shape[2:]:
            raise ValueError(f"Expected aux of shape (B, {3 * self.k}, H, W) matching the image {image.shape}, got {aux.shape}")
        return self.net(image, valid, aux)


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_checkpoint` wrote and how closely the file matches the checkpoint model.

    Attributes:
        path: the written file.
        format: ``"torchscript"`` or ``"onnx"``.
        weights: ``"ema"`` or ``"model"``.
        max_abs_diff: largest ``|file - eager|`` of the outputs over the checked inputs (None: not checked).
        checked_shapes: ``(B, H, W)`` of the checked inputs.
    """

    path: Path
    format: str
    weights: str
    max_abs_diff: float | None
    checked_shapes: tuple[tuple[int, int, int], ...]


def _k(model: nn.Module) -> int:
    return model.k if isinstance(model, SimKUNet) else 0


def example_inputs(model: nn.Module, batch: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random normalised inputs with blocky holes for ``model``: ``(image, valid[, aux])``."""
    g = torch.Generator().manual_seed(seed)
    channels = 3 if isinstance(model, SimKUNet) else model.in_channels
    cell = max(1, min(h, w) // 8)
    coarse = torch.rand(batch, 1, -(-h // cell), -(-w // cell), generator=g) > 0.35
    valid = coarse.repeat_interleave(cell, 2).repeat_interleave(cell, 3)[..., :h, :w].float()
    image = torch.randn(batch, channels, h, w, generator=g) * valid
    k = _k(model)
    return (image, valid, torch.randn(batch, 3 * k, h, w, generator=g)) if k else (image, valid)


def trace_model(model: nn.Module) -> torch.jit.ScriptModule:
    """TorchScript of an eval-mode UNet: traced at ``2 * multiple`` square, wrapped in a scripted shape check."""
    model = model.eval()
    m = model.multiple
    example = example_inputs(model, 1, 2 * m, 2 * m)
    with _quiet_jit(), torch.no_grad():   # the trace records shape arithmetic it cannot prove general
        traced = torch.jit.trace(model, example, check_trace=False)
        channels = 3 if isinstance(model, SimKUNet) else model.in_channels
        front = CheckedInputsAux(traced, channels, m, _k(model)) if _k(model) else CheckedInputs(traced, channels, m)
        return torch.jit.script(front)


def metadata(payload: dict, model: nn.Module, weights: str) -> dict:
    """The JSON stored with an exported model."""
    inputs = ["image (B, 3, H, W) ImageNet-normalised", "valid (B, 1, H, W) float, 1 = known"]
    if _k(model):
        inputs.append(f"aux (B, {3 * _k(model)}, H, W) ImageNet-normalised retrieved images")
    return {
        "format": "inpaint-export", "model": payload.get("model"), "model_kwargs": payload.get("model_kwargs"),
        "step": payload.get("step"), "weights": weights, "multiple": model.multiple, "inputs": inputs,
        "output": "I_out (B, 3, H, W) ImageNet-normalised; composite = valid * image + (1 - valid) * I_out",
        "normalization": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
    }


def _onnx_export(model: nn.Module, path: Path, meta: dict) -> None:
    try:
        import onnx
        import onnxscript  # noqa: F401 - needed by torch.onnx's exporter
    except ImportError:
        raise ImportError("ONNX export needs the optional packages onnx and onnxscript: pip install 'qdimd[export]'") from None
    from torch.export import Dim

    m = model.multiple
    batch = Dim("batch", min=1, max=4096)
    h, w = m * Dim("h_blocks", min=1, max=max(1, 16384 // m)), m * Dim("w_blocks", min=1, max=max(1, 16384 // m))
    names = ["image", "valid", "aux"][: 3 if _k(model) else 2]
    shapes = {name: {0: batch, 2: h, 3: w} for name in names}
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)   # "torchvision is not installed. Skipping torchvision::nms" and the like
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # the exporter's deprecation notes
            program = torch.onnx.export(model.eval(), example_inputs(model, 1, 2 * m, 2 * m), None, dynamo=True,
                                        input_names=names, output_names=["output"], dynamic_shapes=shapes, verbose=False)
    finally:
        onnx_log.setLevel(level)
    proto = program.model_proto
    onnx.helper.set_model_props(proto, {"inpaint": json.dumps(meta)})
    atomic_write_bytes(path, proto.SerializeToString())


def load_exported(path: str | os.PathLike, format: str | None = None):
    """A callable ``f(*inputs) -> output tensor`` for an exported file (ONNX through onnxruntime).

    Raises:
        ImportError: ONNX without ``onnxruntime``.
    """
    path = Path(path)
    format = format or ("onnx" if path.suffix == ".onnx" else "torchscript")
    if format == "torchscript":
        with _quiet_jit():
            return torch.jit.load(str(path), map_location="cpu")
    try:
        import onnxruntime
    except ImportError:
        raise ImportError("Running an ONNX export needs onnxruntime: pip install onnxruntime") from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda *inputs: torch.from_numpy(session.run(None, {n: x.numpy() for n, x in zip(names, inputs)})[0])


def check_export(model: nn.Module, run, shapes) -> float:
    """Largest ``|run(x) - model(x)|`` over random inputs of the ``(B, H, W)`` ``shapes``."""
    worst = 0.0
    with torch.no_grad():
        for i, (b, h, w) in enumerate(shapes):
            inputs = example_inputs(model, b, h, w, seed=i + 1)
            worst = max(worst, float((run(*inputs) - model(*inputs)).abs().max()))
    return worst


def export_checkpoint(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    format: str = "torchscript",
    *,
    weights: str = "auto",
    check: bool = True,
    atol: float = 1e-3,
) -> ExportResult:
    """Export a checkpoint's model (see the module docstring).

    Args:
        checkpoint: a checkpoint written by ``inpaint train``.
        out: the file to write (atomically).
        format: ``"torchscript"`` or ``"onnx"``.
        weights: ``"auto"`` (EMA weights when the checkpoint has them), ``"ema"`` or ``"model"``.
        check: reload the file and compare it with the eager model at the trace size
            and at another size and batch (ONNX: only when ``onnxruntime`` is installed).
        atol: largest output difference the check accepts (normalised units).

    Raises:
        ValueError: unknown format or weights, or the check failed.
        InputError: unreadable checkpoint, or ``weights="ema"`` without EMA weights.
        ImportError: ONNX without the ``export`` extra.
    """
    if format not in FORMATS:
        raise ValueError(f"Expected format in {FORMATS}, got {format!r}")
    if weights not in WEIGHTS:
        raise ValueError(f"Expected weights in {WEIGHTS}, got {weights!r}")
    check_not_input(out, {"CHECKPOINT": checkpoint}, option="-o")
    payload = read_checkpoint(checkpoint)
    use_ema = weights == "ema" or (weights == "auto" and bool(payload.get("ema_state_dict")))
    model = build_model(payload, str(checkpoint), ema=use_ema).eval()
    meta = metadata(payload, model, "ema" if use_ema else "model")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if format == "torchscript":
        buffer = io.BytesIO()
        with _quiet_jit():
            torch.jit.save(trace_model(model), buffer, _extra_files={METADATA_FILE: json.dumps(meta)})
        atomic_write_bytes(out, buffer.getvalue())
    else:
        _onnx_export(model, out, meta)
    m = model.multiple
    shapes = ((1, 2 * m, 2 * m), (2, 3 * m, m))   # the trace size, then another size and batch
    diff = None
    if check and (format == "torchscript" or _has_onnxruntime()):
        diff = check_export(model, load_exported(out, format), shapes)
        if not diff <= atol:
            raise ValueError(f"{out}: the exported model differs from the checkpoint's by {diff:.3g} (expected <= {atol:g})")
    return ExportResult(out, format, meta["weights"], diff, shapes if diff is not None else ())


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a TorchScript export (``metadata.json``).

    Raises:
        InputError: not a TorchScript export of this package.
    """
    files = {METADATA_FILE: ""}
    try:
        with _quiet_jit():
            torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    except (RuntimeError, ValueError, OSError) as exc:
        raise InputError(f"{path}: not a TorchScript file ({str(exc).splitlines()[0][:200]})") from None
    if not files[METADATA_FILE]:
        raise InputError(f"{path}: a TorchScript file without {METADATA_FILE} (not written by inpaint export)")
    return json.loads(files[METADATA_FILE])
