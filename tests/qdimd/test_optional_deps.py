"""Without orjson, isal or cairocffi (a stock Python) qdimd falls back to json, zlib and OpenCV, warning once each."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
from PIL import Image

from qdimd.files.layout import encode_png
from qdimd.io import json_dumps, json_loads

from helpers import ROOT, without_modules_env

SCRIPT = r'''
import sys
import warnings
warnings.simplefilter("default")
import numpy as np
from qdimd.io import json_dumps, json_loads, JSONDecodeError
from qdimd.files.layout import encode_png
from qdimd.masks.render import resolve_renderer
import qdimd.strokes.ndjson, qdimd.files.writer, qdimd.sets.testsplit   # import again: no second warning
obj = {"b": [1, 2.5, "é"], "a": None, "n": np.int64(3)}
sys.stdout.buffer.write(json_dumps(obj) + b"\n" + json_dumps(obj, indent=True, sort_keys=True) + b"\n")
assert json_loads(json_dumps(obj)) == {"b": [1, 2.5, "é"], "a": None, "n": 3}
try:
    json_loads(b"{bad")
except JSONDecodeError:
    pass
else:
    raise SystemExit("no JSONDecodeError")
hole = np.load(sys.argv[1])
open(sys.argv[2], "wb").write(encode_png(hole, 255, 8))
open(sys.argv[3], "wb").write(encode_png(hole, 0, 1))
print("renderer", resolve_renderer("auto"), resolve_renderer("auto"))
'''


def test_fallbacks_give_the_same_results(tmp_path):
    rng = np.random.default_rng(0)
    hole = rng.random((37, 50)) < 0.3
    np.save(tmp_path / "hole.npy", hole)
    env = without_modules_env(tmp_path / "site", ("orjson", "isal", "cairocffi"))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "hole.npy"), str(tmp_path / "a.png"),
                           str(tmp_path / "b.png")], env=env, cwd=tmp_path, capture_output=True, timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    compact, renderer = proc.stdout.split(b"\n", 1)[0], proc.stdout.decode().splitlines()[-1]
    obj = {"b": [1, 2.5, "é"], "a": None, "n": np.int64(3)}
    assert compact == json_dumps(obj)                                    # the same bytes as orjson writes
    assert json_dumps(obj, indent=True, sort_keys=True) in proc.stdout
    assert renderer == "renderer opencv opencv"
    for name in ("orjson is not installed", "isal is not installed", "libcairo not found"):
        assert err.count(name) == 1, (name, err)                         # one warning each
    # zlib's PNG bytes may differ from ISA-L's; the pixels do not
    for path, value, bits in ((tmp_path / "a.png", 255, 8), (tmp_path / "b.png", 0, 1)):
        ours = np.asarray(Image.open(path).convert("L"))
        with open(tmp_path / "isal.png", "wb") as f:
            f.write(encode_png(hole, value, bits))
        assert np.array_equal(ours, np.asarray(Image.open(tmp_path / "isal.png").convert("L")))
        assert np.array_equal(ours == value, hole)


def test_checkout_code_runs(tmp_path):
    """The subprocess runs this checkout's qdimd (PYTHONPATH), not an installed copy."""
    env = without_modules_env(tmp_path / "site", ("orjson",))
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", "import qdimd; print(qdimd.__file__)"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60).stdout.strip()
    assert out == str(ROOT / "qdimd" / "__init__.py")
    assert json_loads(json_dumps([1])) == [1]


def test_json_fallback_writes_non_finite_numbers_as_orjson_does(monkeypatch):
    """json writes the tokens NaN and Infinity (not JSON: orjson, jq and browsers refuse them); orjson writes null.
    A results.json written on a machine without orjson must read back with it."""
    import qdimd.io as io_mod

    obj = {"psnr": float("inf"), "cells": [np.float32("nan"), 1.5], "arr": np.array([-np.inf, 2.0]), "k": (np.float64(3),)}
    with_orjson = json_dumps(obj)
    monkeypatch.setattr(io_mod, "_orjson", None)
    fallback = io_mod.json_dumps(obj)
    assert fallback == with_orjson == b'{"psnr":null,"cells":[null,1.5],"arr":[null,2.0],"k":[3.0]}'
    assert io_mod.json_dumps({"a": [1.0]}, indent=True) == json_dumps({"a": [1.0]}, indent=True)
