"""The protocol section of ``results.json``: how every number of the run was made.

Compositing, resizing, the image counts per (method, cell), the predictions
each folder method was scored from (their fingerprint) and every metric
network's weight file by SHA-256, or ``"random"`` for fixed random weights
(smoke tests), so that two tables can be told comparable or not.
"""
from __future__ import annotations

from pathlib import Path

from qdimd.io import file_sha256

from ..methods import DRIFT_WARNING
from ..plan import EvalPlan

_HUB_FILES = {
    "inception": "inception_v3_google-0cc3c7bd.pth",
    "fid_inception": "pt_inception-2015-12-05-6726825d.pth",
    "alexnet": "alexnet-owt-7be5be79.pth",
    "vgg16": "vgg16-397923af.pth",
}


def _weights(path: str | None, random: bool, hub_name: str | None) -> dict:
    """``{"file", "sha256"}`` of the weights a network was given or found in torch.hub's cache, or ``"random"``."""
    if path is None and random:  # the loaders use random weights whenever no file is given and random is allowed
        return {"file": None, "sha256": "random"}
    if path is None and hub_name is not None:
        import torch

        cached = Path(torch.hub.get_dir()) / "checkpoints" / hub_name
        path = str(cached) if cached.is_file() else None
    if path is None:
        return {"file": None, "sha256": "unknown (downloaded, then moved?)"}
    return {"file": str(path), "sha256": file_sha256(path)}


def weight_hashes(plan: EvalPlan) -> dict[str, dict]:
    """Per metric network of the run: its weight file and SHA-256 (``"random"`` for random weights)."""
    c = plan.config
    random = c.allow_random_weights
    out = {}
    if c.iscore:
        out["inception"] = _weights(c.inception_weights, random or c.allow_random_inception, _HUB_FILES["inception"])
    if c.features:
        out["fid_inception"] = _weights(c.fid_weights, random, _HUB_FILES["fid_inception"])
    if "lpips" in c.metrics:
        backbone = "alexnet" if c.lpips_net == "alex" else "vgg16"
        from ..lpips import LINEAR_FILE, package_linear_file

        linear = c.lpips_weights or (None if random else package_linear_file(c.lpips_net))
        out["lpips_linear"] = _weights(str(linear) if linear else None, random, LINEAR_FILE[c.lpips_net])
        out[f"lpips_{backbone}"] = _weights(c.alexnet_weights if backbone == "alexnet" else c.vgg_weights, random,
                                            _HUB_FILES[backbone])
    return out


def protocol(plan: EvalPlan, results: list[dict]) -> dict:
    """The ``protocol`` section of ``results.json``."""
    c = plan.config
    return {
        "composite": "every output is composited with the ground truth on the known pixels before any metric: "
                     "truth * (1 - hole) + output * hole",
        "known_drift": f"mean |raw output - truth| over the known pixels and channels, 0-255; warned above {DRIFT_WARNING}",
        "ground_truth": "photo scaled to cover the evaluation size (bicubic) and centre-cropped",
        "masks": "nearest-neighbour resize when --size differs from the masks' size, re-bucketed",
        "resize_preds": "bicubic to the evaluation size" if c.resize_preds else False,
        "size": list(plan.size),
        "counts": {s.label: {f"{r['bucket']}/{r['group']}": r["n"] for r in results if r["method"] == s.label}
                   for s in plan.specs},
        "predictions": {label: {"folder": str(index.root), "files": len(index.files), "sha256": index.digest}
                        for label, index in plan.predictions.items()},
        "weights": weight_hashes(plan),
    }
