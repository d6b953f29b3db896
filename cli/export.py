"""``inpaint export``: a trained checkpoint as a TorchScript or ONNX file (with its mask input)."""
from __future__ import annotations

import click

from .options import user_errors, utf8_path


@click.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), callback=utf8_path, help="File to write (.pt / .onnx).")
@click.option("--format", "format_", type=click.Choice(["torchscript", "onnx"]), default="torchscript", show_default=True,
              help="torchscript (torch.jit.load) or onnx (needs pip install 'qdimd[export]').")
@click.option("--weights", type=click.Choice(["auto", "ema", "model"]), default="auto", show_default=True,
              help="auto: the EMA weights when the checkpoint has them (inpaint train --ema), else the trained ones.")
@click.option("--no-check", is_flag=True, help="Skip reloading the file and comparing it with the checkpoint model.")
@user_errors
def export(checkpoint, out, format_, weights, no_check) -> None:
    """Export CHECKPOINT to TorchScript or ONNX, with its mask input.

    The file computes net(image, valid[, aux]) -> I_out on ImageNet-normalised images whose H and W are
    multiples of 2**layer_size; it is reloaded and compared with the checkpoint model on two sizes.
    """
    from inpaint.export import export_checkpoint

    try:
        result = export_checkpoint(checkpoint, out, format_, weights=weights, check=not no_check)
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    if result.max_abs_diff is None:
        check = "not checked" + ("" if no_check else " (onnxruntime is not installed)")
    else:
        sizes = ", ".join(f"{b}x{h}x{w}" for b, h, w in result.checked_shapes)
        check = f"checked against the checkpoint model: max |difference| {result.max_abs_diff:.2g} at B x H x W = {sizes}"
    click.echo(f"{result.path}: {result.format}, {result.weights} weights; {check}")
