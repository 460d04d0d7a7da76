#!/usr/bin/python3
"""Checks that the PyTorch re-implementations (models.py) compute what libfer computes.

For each model file: fixed random normalized inputs go through libfer (the
fer_eager_reference helper, built from libfer_reference.cpp, in a subprocess)
and through the PyTorch module loaded with the same weights; the fp32
probabilities must agree to --tolerance (max abs difference).

    /usr/bin/python3 benchmarks/pytorch_eager/check_equivalence.py \
        --reference build/tests/fer_eager_reference models/      # every shipped model

Exit status: 0 all agree, 1 a mismatch or an error, 77 PyTorch is not importable (skip).
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
except ImportError as _e:  # reported as a skip by main(), like a missing torch
    np, _NUMPY_ERROR = None, _e

SKIP = 77


def write_inputs(path, x):
    n, c, h, w = x.shape
    with open(path, "wb") as f:
        f.write(struct.pack("<4I", n, c, h, w))
        f.write(np.ascontiguousarray(x, dtype="<f4").tobytes())


def read_outputs(path):
    with open(path, "rb") as f:
        data = f.read()
    n, k, d = struct.unpack_from("<3I", data, 0)
    body = np.frombuffer(data, dtype="<f4", offset=12)
    if body.size != n * k + n * d:
        raise RuntimeError("reference output %s has %d values, expected %d" % (path, body.size, n * k + n * d))
    return body[:n * k].reshape(n, k).astype(np.float32), body[n * k:].reshape(n, d).astype(np.float32)


def random_inputs(header, n, seed):
    """Normalized inputs as libfer's Model::prepare makes them: pixels in [0, 1], then (x - mean) / std."""
    inp = header["input"]
    c, h, w = int(inp["channels"]), int(inp["height"]), int(inp["width"])
    rng = np.random.default_rng(seed)
    pixels = rng.random((n, c, h, w), dtype=np.float32)
    # A smooth pattern as well as noise, so that pooled features are not all alike.
    yy, xx = np.meshgrid(np.linspace(0, 1, h, dtype=np.float32), np.linspace(0, 1, w, dtype=np.float32), indexing="ij")
    for i in range(n):
        a, b = rng.uniform(2, 9, size=2)
        pattern = 0.5 + 0.5 * np.sin(a * xx + b * yy * (i + 1))
        pixels[i] = 0.5 * pixels[i] + 0.5 * pattern[None]
    mean = np.asarray(inp["mean"], np.float32).reshape(1, c, 1, 1)
    std = np.asarray(inp["std"], np.float32).reshape(1, c, 1, 1)
    return ((pixels - mean) / std).astype(np.float32)


def check(model_path, reference, n, seed, tolerance, precision, threads, torch, models, quiet=False):
    net, header = models.load_fermodel(model_path)
    x = random_inputs(header, n, seed)
    with tempfile.TemporaryDirectory(prefix="fer_eager_") as tmp:
        inp, out = os.path.join(tmp, "inputs.bin"), os.path.join(tmp, "outputs.bin")
        write_inputs(inp, x)
        t0 = time.perf_counter()
        r = subprocess.run([reference, model_path, inp, out, precision, str(threads)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (reference, r.returncode, r.stderr.strip()))
        lib_probs, lib_feats = read_outputs(out)
        t_lib = time.perf_counter() - t0
    torch.set_num_threads(threads)
    with torch.inference_mode():
        xt = torch.from_numpy(x)
        if precision == "bf16":
            # As compare.py runs it (channels_last module and input, CPU autocast), except that the head
            # runs in fp32 on the float features, as libfer's does.
            net = net.to(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                feats = net.features(xt.contiguous(memory_format=torch.channels_last)).float()
        else:
            feats = net.features(xt)
        probs = torch.softmax(net.classifier(feats), dim=1)
    pt_probs, pt_feats = probs.numpy(), feats.numpy()
    if pt_probs.shape != lib_probs.shape or pt_feats.shape != lib_feats.shape:
        raise RuntimeError("shapes differ: PyTorch %s/%s, libfer %s/%s" %
                           (pt_probs.shape, pt_feats.shape, lib_probs.shape, lib_feats.shape))
    dp = float(np.abs(pt_probs - lib_probs).max())
    df = float(np.abs(pt_feats - lib_feats).max())
    scale = float(np.abs(lib_feats).max()) or 1.0
    same_top = int((pt_probs.argmax(1) == lib_probs.argmax(1)).sum())
    ok = dp <= tolerance
    if not quiet:
        print("%-32s %-10s %s %s x %s: max |dp| = %.3g, max |dfeature| = %.3g (features up to %.3g), "
              "top-1 agrees %d/%d, libfer %.2f s -> %s" %
              (model_path if len(model_path) <= 32 else "..." + model_path[-29:], header["architecture"]["name"], precision, n,
               "x".join(str(s) for s in x.shape[1:]), dp, df, scale, same_top, n, t_lib,
               "ok" if ok else "MISMATCH (tolerance %g)" % tolerance))
    return ok, dp


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help=".fermodel files, or folders (every .fermodel in them: models/)")
    ap.add_argument("--reference", required=True, help="the fer_eager_reference program (build/tests/fer_eager_reference)")
    ap.add_argument("--batch", type=int, default=8, help="inputs per model (8)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--tolerance", type=float, default=1e-4, help="max abs probability difference (1e-4)")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                    help="fp32 (default), or bf16 on both sides: libfer's bf16 mode against PyTorch autocast + "
                         "channels_last (the bf16 setting of compare.py, head in fp32 as in libfer)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if np is None:
        print("SKIP: numpy is not importable in %s (%s)" % (sys.executable, _NUMPY_ERROR))
        return SKIP
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any failure to import means: cannot check here
        print("SKIP: PyTorch is not importable in %s (%s: %s)" % (sys.executable, type(e).__name__, e))
        return SKIP
    sys.path.insert(0, here)
    import models

    if not os.access(args.reference, os.X_OK):
        print("error: reference program %s is missing or not executable" % args.reference)
        return 1
    paths = []
    for p in args.models:
        paths += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".fermodel")) if os.path.isdir(p) else [p]
    if not paths:
        print("error: no model files in %s" % " ".join(args.models))
        return 1
    failed = False
    for path in paths:
        try:
            ok, _ = check(path, args.reference, args.batch, args.seed, args.tolerance, args.precision, args.threads,
                          torch, models)
        except Exception as e:  # noqa: BLE001
            print("%s: error: %s: %s" % (path, type(e).__name__, e))
            ok = False
        failed |= not ok
    print("FAILED" if failed else "all models agree")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
