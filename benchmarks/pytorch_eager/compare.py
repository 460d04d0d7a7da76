#!/usr/bin/python3
"""Speed of PyTorch eager on libfer's shipped models: the same architectures
(models.py, checked against libfer by check_equivalence.py) with the same weights.

For each model, batch size, precision and thread count: the network in eval()
under torch.inference_mode(), warm-up, then repetitions (at least --min-reps and
--min-time seconds) of softmax(net(x)) on a fixed normalized random batch;
median and p10/p90 milliseconds per batch.

  fp32  plain float32 module and input.
  bf16  what a PyTorch user would do on CPU: module and input channels_last,
        forward under torch.autocast("cpu", dtype=torch.bfloat16).
  int8  PyTorch's own static int8 quantization (FX graph mode, the "onednn"
        engine and its default qconfig, calibrated on 64 random normalized
        inputs), the counterpart of libfer's int8 path (fer quantize); timing
        does not depend on the calibration data.

    /usr/bin/python3 benchmarks/pytorch_eager/compare.py [--json out.json] \
        [--libfer-json recognizer_bench.json]    # adds libfer's time and the ratio PyTorch / libfer
    /usr/bin/python3 benchmarks/pytorch_eager/compare.py --quick   # smoke test: batch 1, fp32, 1 thread

The ratio column is PyTorch time / libfer time for the same model, batch,
precision and threads: above 1 means libfer is faster.
"""
import argparse
import datetime
import functools
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS_DIR = os.path.join(ROOT, "models")
DEFAULT_MODELS = sorted(os.path.join(MODELS_DIR, f) for f in os.listdir(MODELS_DIR) if f.endswith(".fermodel")) \
    if os.path.isdir(MODELS_DIR) else []


def model_key(name):
    """'models/default.fermodel', 'default.fermodel', 'default' -> 'default' (how rows of both tools are matched)."""
    base = os.path.basename(str(name))
    return base[:-len(".fermodel")] if base.endswith(".fermodel") else base


def precision_key(p):
    p = str(p).lower()
    return {"float32": "fp32", "f32": "fp32", "bfloat16": "bf16"}.get(p, p)


def cpu_info():
    name, flags = platform.processor() or "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not name:
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return name, {"avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags,
                  "avx512f": "avx512f" in flags, "avx2": "avx2" in flags}


def time_batches(fn, min_reps, min_time, warmup, warmup_time):
    """Warm-up until both `warmup` runs and `warmup_time` s are done, then repetitions until both
    `min_reps` and `min_time` s are reached (the rule of recognizer_bench); returns ms per repetition."""
    start, done = time.perf_counter(), 0
    while done < warmup or time.perf_counter() - start < warmup_time:
        fn()
        done += 1
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return np.asarray(times)


def quantize_fx(torch, net, normalize, header, chw):
    """PyTorch static int8 quantization of `net` (FX graph mode, onednn engine and qconfig)."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = "onednn"
    g = torch.Generator().manual_seed(7)
    calib = normalize(torch.rand(64, *chw, generator=g), header)
    prepared = prepare_fx(net.eval(), get_default_qconfig_mapping("onednn"), (calib[:1],))
    with torch.inference_mode():
        prepared(calib)
    return convert_fx(prepared).eval()


def bench_model(path, args, torch, models):
    net, header = models.load_fermodel(path)
    inp = header["input"]
    c, h, w = int(inp["channels"]), int(inp["height"]), int(inp["width"])
    rows = []
    for precision in args.precisions:
        if precision == "bf16":
            # A fresh copy per precision, so the fp32 rows run the plain module.
            net_p, _ = models.load_fermodel(path)
            net_p = net_p.to(memory_format=torch.channels_last).eval()
        elif precision == "int8":
            net_p = None  # quantized afresh for each batch and thread count, below
        else:
            net_p = net
        for batch in args.batches:
            g = torch.Generator().manual_seed(1000 + batch)
            x = torch.rand(batch, c, h, w, generator=g)
            x = models.normalize(x, header)
            if precision == "bf16":
                x = x.contiguous(memory_format=torch.channels_last)

            def run(net_p=net_p, x=x, precision=precision):
                with torch.inference_mode():
                    if precision == "bf16":
                        with torch.autocast("cpu", dtype=torch.bfloat16):
                            logits = net_p(x)
                    else:
                        logits = net_p(x)
                    return torch.softmax(logits.float(), dim=1)

            for threads in args.threads:
                torch.set_num_threads(threads)
                timed = run
                if precision == "int8":
                    # PyTorch's oneDNN int8 kernels keep a ready primitive only for the
                    # input shape and thread count of a packed weight's first call: a
                    # freshly quantized network per configuration times each at its best.
                    fresh = quantize_fx(torch, models.load_fermodel(path)[0], models.normalize, header, (c, h, w))
                    timed = functools.partial(run, net_p=fresh)
                t = time_batches(timed, args.min_reps, args.min_time, args.warmup, args.warmup_time)
                med = float(np.median(t))
                row = {
                    "model": model_key(path),
                    "model_file": os.path.relpath(path, ROOT) if path.startswith(ROOT) else path,
                    "architecture": header["architecture"]["name"],
                    "architecture_config": header["architecture"].get("config", {}),
                    "batch": batch,
                    "precision": precision,
                    "threads": threads,
                    "median_ms": med,
                    "p10_ms": float(np.percentile(t, 10)),
                    "p90_ms": float(np.percentile(t, 90)),
                    "mean_ms": float(t.mean()),
                    "reps": int(t.size),
                    "ms_per_image": med / batch,
                    "images_per_s": 1e3 * batch / med,
                }
                rows.append(row)
                if args.progress:
                    print("  %s b%d %s t%d: %.3f ms" % (row["model"], batch, precision, threads, med),
                          file=sys.stderr, flush=True)
    return rows


def load_libfer_rows(path):
    """Rows of recognizer_bench --json: a list of rows, or an object holding one (under any key)."""
    with open(path) as f:
        data = json.load(f)

    def is_rows(v):
        return isinstance(v, list) and v and all(isinstance(r, dict) for r in v) and any("median_ms" in r for r in v)

    if is_rows(data):
        rows = data
    elif isinstance(data, dict) and is_rows(data.get("rows")):
        rows = data["rows"]
    elif isinstance(data, dict):
        # Another key holding rows of model timings (not e.g. "peaks": those rows name no model and batch).
        found = [v for v in data.values() if is_rows(v) and any("model" in r and "batch" in r for r in v)]
        if not found:
            raise ValueError("%s: no list of rows with model, batch and median_ms found" % path)
        rows = found[0]
    else:
        raise ValueError("%s: expected a JSON list or object" % path)
    table = {}
    for r in rows:
        if r.get("kind", "file") != "file":
            continue  # recognizer_bench's untrained per-architecture rows: no model file to compare with
        try:
            key = (model_key(r["model"]), int(r["batch"]), precision_key(r["precision"]), int(r["threads"]))
            table[key] = float(r["median_ms"])
        except (KeyError, TypeError, ValueError):
            continue  # rows of another kind (e.g. a summary) are ignored
    return table


def print_table(rows, libfer):
    head = ["model", "arch", "batch", "prec", "thr", "median ms", "p10 ms", "p90 ms", "reps", "img/s"]
    if libfer is not None:
        head += ["libfer ms", "PT/libfer"]
    lines = []
    for r in rows:
        cells = [r["model"], r["architecture"], str(r["batch"]), r["precision"], str(r["threads"]),
                 "%.3f" % r["median_ms"], "%.3f" % r["p10_ms"], "%.3f" % r["p90_ms"], str(r["reps"]),
                 "%.1f" % r["images_per_s"]]
        if libfer is not None:
            lib = libfer.get((r["model"], r["batch"], r["precision"], r["threads"]))
            r["libfer_median_ms"] = lib
            r["ratio_pytorch_over_libfer"] = (r["median_ms"] / lib) if lib else None
            cells += ["%.3f" % lib if lib else "-", "%.2f" % r["ratio_pytorch_over_libfer"] if lib else "-"]
        lines.append(cells)
    widths = [max(len(h), *(len(c[i]) for c in lines)) if lines else len(h) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    print(fmt(head))
    print("  ".join("-" * w for w in widths))
    for cells in lines:
        print(fmt(cells))
    if libfer is not None:
        matched = sum(1 for r in rows if r.get("libfer_median_ms"))
        print("\nPT/libfer = PyTorch eager median / libfer median (> 1: libfer is faster); %d of %d rows matched "
              "a libfer row." % (matched, len(rows)))
        print_fastest(rows, libfer)


def fastest_pairs(rows, libfer):
    """Per (model, batch, threads): PyTorch's fastest precision against libfer's fastest."""
    out = {}
    for r in rows:
        key = (r["model"], r["batch"], r["threads"])
        best = out.setdefault(key, {"pt": None, "lib": None})
        if best["pt"] is None or r["median_ms"] < best["pt"][1]:
            best["pt"] = (r["precision"], r["median_ms"])
    for (model, batch, prec, threads), ms in libfer.items():
        best = out.get((model, batch, threads))
        if best is not None and (best["lib"] is None or ms < best["lib"][1]):
            best["lib"] = (prec, ms)
    return {k: v for k, v in out.items() if v["pt"] and v["lib"]}


def print_fastest(rows, libfer):
    pairs = fastest_pairs(rows, libfer)
    if not pairs:
        return
    print("\nFastest against fastest (the precision each side runs best at this model, batch and threads):")
    print("%-22s %5s %3s  %-16s %-16s %9s" % ("model", "batch", "thr", "PyTorch", "libfer", "PT/libfer"))
    for (model, batch, threads), v in sorted(pairs.items()):
        print("%-22s %5d %3d  %-16s %-16s %9.2f" % (model, batch, threads, "%s %.3f ms" % v["pt"],
                                                   "%s %.3f ms" % v["lib"], v["pt"][1] / v["lib"][1]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help=".fermodel files (default: every shipped model, models/*.fermodel)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"], choices=["fp32", "bf16", "int8"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--min-reps", type=int, default=10, help="least timed repetitions per row (10)")
    ap.add_argument("--min-time", type=float, default=1.0, help="least timed seconds per row (1.0)")
    ap.add_argument("--warmup", type=int, default=3, help="least untimed runs before timing (3)")
    ap.add_argument("--warmup-time", type=float, default=0.3, help="least untimed seconds before timing (0.3)")
    ap.add_argument("--quick", action="store_true", help="smoke test: batch 1, fp32, 1 thread, --min-time 0.05")
    ap.add_argument("--json", metavar="FILE", help="write the rows (and the machine) as JSON")
    ap.add_argument("--libfer-json", metavar="FILE",
                    help="JSON of build/benchmarks/recognizer_bench --json: adds libfer's median and the ratio")
    ap.add_argument("--progress", action="store_true", help="print each row to stderr as it is measured")
    args = ap.parse_args(argv)
    if args.quick:
        args.batches, args.precisions, args.threads, args.min_time = [1], ["fp32"], [1], 0.05
        args.warmup, args.warmup_time = min(args.warmup, 2), min(args.warmup_time, 0.05)
    if args.min_reps < 1:
        ap.error("--min-reps must be at least 1")

    import torch

    sys.path.insert(0, HERE)
    import models

    libfer = load_libfer_rows(args.libfer_json) if args.libfer_json else None
    cpu, flags = cpu_info()
    meta = {
        "tool": "benchmarks/pytorch_eager/compare.py",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_flags": flags,
        "cores": os.cpu_count(),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "timed": "softmax(net(x)) under torch.inference_mode(); x a normalized N x C x H x W float32 tensor "
                 "(bf16: channels_last module and input, torch.autocast('cpu', bfloat16))",
        "min_reps": args.min_reps,
        "min_time_s": args.min_time,
        "warmup": args.warmup,
        "warmup_time_s": args.warmup_time,
    }
    print("PyTorch %s eager, %s (%s cores; avx512_bf16 %s, amx_bf16 %s)" %
          (torch.__version__, cpu or "unknown CPU", os.cpu_count(), flags["avx512_bf16"], flags["amx_bf16"]))
    if "bf16" in args.precisions and not (flags["avx512_bf16"] or flags["amx_bf16"]):
        print("note: this CPU has no native bf16 instructions; bf16 rows run emulated (slow) on both sides")
    rows = []
    for path in args.models:
        rows += bench_model(path, args, torch, models)
    print()
    print_table(rows, libfer)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)
            f.write("\n")
        print("\nwrote %s" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
