#!/usr/bin/python3
"""Cost growth of libfer: one PNG and a Markdown table from the benchmark JSONs.

    /usr/bin/python3 benchmarks/plot_costs.py \\
        [--recognizer recognizer.json]   # build/benchmarks/recognizer_bench --input-sizes 48,64,96,112 --json ...
        [--detector detector.json]       # build/benchmarks/detector_bench --frame-sizes ... --json ...
        [--stream stream.json ...]       # build/benchmarks/stream_fps --json ... (one file per detector; repeatable)
        [--out docs/cost_growth.png] [--input-batch 1] [--title TEXT]
        [--models small_cnn,resnet18] [--threads 1] [--precisions fp32,bf16]   # fewer lines

Every input is optional (at least one is needed); a part without data is drawn
as an empty panel saying so. Four panels:
  (a) recognizer: median ms per face vs batch size (each model at its default input size),
  (b) recognizer: median ms per batch vs input side (architectures built at --input-sizes),
  (c) detector: median ms per frame vs frame pixels (detector_bench --frame-sizes),
  (d) stream: per-frame latency p50 (p99 dotted) vs faces per frame (stream_fps).
The same numbers go to stdout as Markdown tables; the PNG path goes to stderr.
Needs matplotlib (Agg backend): run it with Debian's /usr/bin/python3.
"""

import argparse
import datetime
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import matplotlib.ticker  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

PRECISION_STYLE = {"fp32": "-", "bf16": "--", "-": "-"}  # haar has no precision ("-")
THREAD_MARKERS = ["o", "s", "^", "D", "v", "P"]


def load(path):
    with open(path) as f:
        return json.load(f)


def marker(threads):
    return THREAD_MARKERS[(int(threads) - 1) % len(THREAD_MARKERS)]


class Colors:
    """A stable colour per name (model, detector), in order of first use."""

    def __init__(self):
        self.cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        self.cycle += ["#393b79", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d"]
        self.known = {}

    def __call__(self, name):
        if name not in self.known:
            self.known[name] = self.cycle[len(self.known) % len(self.cycle)]
        return self.known[name]


def fmt(v, digits=3):
    """Fewer decimals for larger values: 0.123, 12.35, 123.5 (at most `digits` decimals)."""
    if v is None:
        return "-"
    if v >= 100:
        return "%.1f" % v
    if v >= 10:
        return "%.*f" % (min(digits, 2), v)
    return "%.*f" % (digits, v)


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def empty_panel(ax, title, why):
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def log_y(ax):
    """A log y axis labelled in plain numbers at 1, 2, 5 x 10^k."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: "%g" % v))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def log_if_wide(ax, values):
    """Log y when the values span more than 20x (else the small ones are lost)."""
    values = [v for v in values if v and v > 0]
    if values and max(values) / min(values) > 20:
        log_y(ax)


def legend(ax, handles=None, labels=None):
    """The legend outside the panel, on its right (one entry per model/precision/threads)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, fontsize=6, ncol=2 if len(handles) > 18 else 1, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), borderaxespad=0, framealpha=0.8, handlelength=2.5)


def reference(ax, x, y0, power, label):
    """A grey dotted line through (x[0], y0) growing as (x / x[0]) ** power."""
    ax.plot(x, [y0 * (v / x[0]) ** power for v in x], ":", color="gray", linewidth=1.0, label=label)


# ---------------------------------------------------------------------------
# Recognizer
# ---------------------------------------------------------------------------


def row_input(r):
    # Rows of recognizer_bench before --input-sizes have no input_size: the default, 48.
    return r.get("input_size") or 48


def recognizer_batch_panel(ax, data, colors, md):
    title = "(a) recognizer: time per face vs batch size"
    rows = data["rows"] if data else []
    if not rows:
        empty_panel(ax, title, "no recognizer_bench JSON (--recognizer)")
        return
    # Each model at its default input size: 48 when it was measured there, else its smallest.
    sizes = {}
    for r in rows:
        sizes.setdefault(r["model"], set()).add(row_input(r))
    chosen = {m: (48 if 48 in s else min(s)) for m, s in sizes.items()}
    lines = {}
    for r in rows:
        if row_input(r) != chosen[r["model"]]:
            continue
        lines.setdefault((r["model"], r["precision"], r["threads"]), []).append(r)
    batches = sorted({r["batch"] for r in rows})
    ys = []
    table = []
    for (model, precision, threads), rs in lines.items():
        rs.sort(key=lambda r: r["batch"])
        x = [r["batch"] for r in rs]
        y = [r["ms_per_face"] for r in rs]
        ys += y
        ax.plot(x, y, PRECISION_STYLE.get(precision, "-"), marker=marker(threads), color=colors(model), markersize=4,
                linewidth=1.2, label="%s@%d %s %dt" % (model, chosen[model], precision, threads))
        by_batch = {r["batch"]: r for r in rs}
        table.append([model, chosen[model], precision, threads]
                     + [fmt(by_batch[b]["ms_per_face"]) if b in by_batch else "-" for b in batches])
    ax.set_xscale("log", base=2)
    ax.set_xticks(batches)
    ax.set_xticklabels([str(b) for b in batches])
    log_if_wide(ax, ys)
    ax.set_xlabel("batch size (faces per forward pass)")
    ax.set_ylabel("ms per face (median)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    legend(ax)
    md.append("### Recognizer: ms per face (median) vs batch size\n\n"
              "Model::predict on prepared crops (preprocessing excluded); each model at its default input side.")
    md.append(md_table(["model", "input", "precision", "threads"] + ["batch %d" % b for b in batches], table))


def recognizer_input_panel(ax, data, colors, md, want_batch):
    title = "(b) recognizer: time per batch vs input size"
    rows = data["rows"] if data else []
    # Architectures measured at more than one input side.
    sizes = {}
    for r in rows:
        sizes.setdefault(r["model"], set()).add(row_input(r))
    grown = [r for r in rows if len(sizes[r["model"]]) > 1]
    if not grown:
        why = ("no recognizer_bench JSON (--recognizer)" if not rows
               else "no architecture at several input sizes\n(recognizer_bench --input-sizes 48,64,96,112)")
        empty_panel(ax, title, why)
        return
    batches = sorted({r["batch"] for r in grown})
    batch = want_batch if want_batch in batches else batches[0]
    lines = {}
    for r in grown:
        if r["batch"] == batch:
            lines.setdefault((r["model"], r["precision"], r["threads"]), []).append(r)
    all_sizes = sorted({row_input(r) for r in grown})
    table = []
    for (model, precision, threads), rs in lines.items():
        rs.sort(key=row_input)
        x = [row_input(r) for r in rs]
        y = [r["median_ms"] for r in rs]
        ax.plot(x, y, PRECISION_STYLE.get(precision, "-"), marker=marker(threads), color=colors(model), markersize=4,
                linewidth=1.2, label="%s %s %dt" % (model, precision, threads))
        by_size = {row_input(r): r for r in rs}
        cells = []
        for s in all_sizes:
            r = by_size.get(s)
            cells.append("%s (%.1f)" % (fmt(r["median_ms"]), r["flops_per_face"] * 1e-6) if r else "-")
        table.append([model, precision, threads] + cells)
    # What the time would be if it grew with the FLOPs (the input's pixels), from the fastest line's first point.
    first = [min(rs, key=row_input) for rs in lines.values()]
    base = min(first, key=lambda r: r["median_ms"])
    reference(ax, all_sizes, base["median_ms"] * (all_sizes[0] / row_input(base)) ** 2, 2,
              "proportional to pixels (side squared)")
    # Log-log: growth as a power of the side is a straight line (the reference's slope is 2).
    ax.set_xscale("log")
    log_y(ax)
    ax.set_xticks(all_sizes)
    ax.set_xticklabels(["%d" % s for s in all_sizes])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("input side (px, square, log scale; FLOPs grow with its square)")
    ax.set_ylabel("ms per batch of %d (median)" % batch)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    legend(ax)
    skipped = (data or {}).get("skipped") or []
    md.append("### Recognizer: ms per batch of %d (median) vs input side\n\n"
              "Untrained architectures (default options, linear head) built at each input side; "
              "cells: ms (MFLOP per face)." % batch)
    md.append(md_table(["model", "precision", "threads"] + ["%dx%d" % (s, s) for s in all_sizes], table))
    # Zoo architectures switch to a stride-2 stem from a 96-px input (zoo_common's stem_stride): there the
    # FLOPs fall back to about those at half the side. Said, so the dip is not read as noise.
    dips = []
    for model in sorted({r["model"] for r in grown}):
        flops = sorted({(row_input(r), r["flops_per_face"]) for r in grown if r["model"] == model})
        for (s0, f0), (s1, f1) in zip(flops, flops[1:]):
            if f1 < f0:
                dips.append("%s (%d -> %d px: %.0f -> %.0f MFLOP)" % (model, s0, s1, f0 * 1e-6, f1 * 1e-6))
                break
    if dips:
        md.append("FLOPs fall with a larger input for: " + "; ".join(dips)
                  + ". These architectures use a stride-2 stem from 96 px (zoo_common's stem_stride), "
                  "so the work follows (side / 2) squared there.")
    if skipped:
        md.append("Skipped (the architecture cannot take that size): "
                  + ", ".join("%s@%d" % (s["model"], s["input_size"]) for s in skipped))


# ---------------------------------------------------------------------------
# Detector
# ---------------------------------------------------------------------------


def detector_panel(ax, data, colors, md):
    title = "(c) detector: time per frame vs frame size"
    rows = data["rows"] if data else []
    if not rows:
        empty_panel(ax, title, "no detector_bench JSON (--detector)")
        return
    series = []
    for r in rows:
        if r.get("frame_sizes"):
            pts = [(s["width"], s["height"], s["ms_median"], s["ms_p10"], s["ms_p90"]) for s in r["frame_sizes"]]
        else:  # a run without --frame-sizes: its one 640x480 frame
            pts = [(640, 480, r["frame_640x480_ms_median"], r["frame_640x480_ms_p10"], r["frame_640x480_ms_p90"])]
        pts.sort(key=lambda p: (p[0] * p[1], p[0]))
        series.append((r["detector"], r["precision"], r["threads"], pts))
    sizes = sorted({(p[0], p[1]) for _, _, _, pts in series for p in pts}, key=lambda s: (s[0] * s[1], s[0]))
    table = []
    for det, precision, threads, pts in series:
        x = [p[0] * p[1] / 1e6 for p in pts]
        y = [p[2] for p in pts]
        color = colors("det:" + det)
        label = "%s %s %dt" % (det, precision if precision != "-" else "(no precision)", threads)
        ax.plot(x, y, PRECISION_STYLE.get(precision, "-"), marker=marker(threads), color=color, markersize=4,
                linewidth=1.2, label=label)
        if len(pts) > 1:  # p10-p90 band
            ax.fill_between(x, [p[3] for p in pts], [p[4] for p in pts], color=color, alpha=0.12, linewidth=0)
        by_size = {(p[0], p[1]): p for p in pts}
        table.append([det, precision, threads]
                     + ["%s (%s-%s)" % (fmt(by_size[s][2], 1), fmt(by_size[s][3], 1), fmt(by_size[s][4], 1))
                        if s in by_size else "-" for s in sizes])
    px = [s[0] * s[1] / 1e6 for s in sizes]
    if len(px) > 1:  # what a detector whose cost followed the pixels would do, from the fastest first point
        first = [pts[0] for *_, pts in series if (pts[0][0], pts[0][1]) == sizes[0]]
        if first:
            reference(ax, px, min(p[2] for p in first), 1, "proportional to pixels")
    # Log-log: a cost proportional to the pixels is a line of slope 1 (the reference).
    ax.set_xscale("log")
    log_y(ax)
    ax.set_xticks(px)
    ax.set_xticklabels(["%dx%d\n%.2f MP" % (s[0], s[1], s[0] * s[1] / 1e6) for s in sizes], fontsize=7)
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    side = data.get("max_detect_side", 480)
    ax.set_xlabel("frame size (pixels, log scale); detection runs on it downscaled to longer side %d" % side)
    ax.set_ylabel("ms per frame (median; band p10-p90)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    legend(ax)
    md.append("### Detector: ms per frame (median, p10-p90) vs frame size\n\n"
              "The same photo (%s) resized to each size. Detection runs on the frame bounded by "
              "max_detect_side %d: haar downscales larger frames to it (its cascade stops growing there), "
              "tiny_face letterboxes every frame to a canvas of longer side %d and ssd_mobilenet to 512x512, so above it "
              "only the resize grows with the pixels." % (data.get("frame_source", "a sample photo"), side, side))
    md.append(md_table(["detector", "precision", "threads"] + ["%dx%d" % s for s in sizes], table))


# ---------------------------------------------------------------------------
# Stream
# ---------------------------------------------------------------------------


def stream_panel(ax, datas, colors, md):
    title = "(d) stream: per-frame latency vs faces per frame"
    runs = []
    for path, d in datas:
        model = d.get("model", {})
        arch = model.get("architecture", "?") + ("" if model.get("trained", True) else ", untrained")
        for r in d.get("runs", []):
            runs.append((d.get("detector", "?"), arch, d.get("detect_every"), d.get("frame_size"), r))
    if not runs:
        empty_panel(ax, title, "no stream_fps JSON (--stream)" if not datas else "stream_fps JSONs without runs")
        return
    lines = {}
    for det, arch, every, size, r in runs:
        lines.setdefault((det, arch, every, tuple(size or ()), r["threads"]), []).append(r)
    ys = []
    table = []
    for (det, arch, every, size, threads), rs in lines.items():
        rs.sort(key=lambda r: r["faces"])
        x = [r["faces"] for r in rs]
        p50 = [r["p50_ms"] for r in rs]
        p99 = [r["p99_ms"] for r in rs]
        ys += [v for v in p50 + p99 if v is not None]
        color = colors("det:" + det)
        ax.plot(x, p50, "-", marker=marker(threads), color=color, markersize=4, linewidth=1.2,
                label="%s + %s, %dt" % (det, arch, threads))
        ax.plot(x, p99, ":", color=color, linewidth=1.0)
        for r in rs:
            table.append([det, arch, threads, "%dx%d" % size if len(size) == 2 else "-", every, r["faces"],
                          fmt(r.get("fps"), 1), fmt(r.get("p50_ms"), 2), fmt(r.get("p99_ms"), 2),
                          fmt(r.get("detection_p50_ms"), 2), fmt(r.get("tracking_p50_ms"), 2),
                          fmt(r.get("faces_per_frame"), 2)])
    faces = sorted({r["faces"] for *_, r in runs})
    ax.set_xticks(faces)
    log_if_wide(ax, ys)
    ax.set_xlabel("faces per frame")
    ax.set_ylabel("ms per frame (Stream::push; p50 solid, p99 dotted)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="gray", linestyle=":"))
    labels.append("p99 (same colour)")
    legend(ax, handles, labels)
    md.append("### Stream: per-frame latency vs faces per frame\n\n"
              "fer::Stream on synthesized frames (detection every N frames, tracking between); "
              "latency is Stream::push alone.")
    md.append(md_table(["detector", "model", "threads", "frame", "detect every", "faces", "FPS", "p50 ms", "p99 ms",
                        "detection p50 ms", "tracking p50 ms", "faces/frame"], table))


# ---------------------------------------------------------------------------


def machine_line(rec, det, paths):
    """'CPU, N logical CPUs' from the JSONs that carry it, and the date of the run (recognizer_bench
    records it; else the newest input file's modification date)."""
    m = (rec or {}).get("machine", {})
    cpu = m.get("cpu") or (det or {}).get("cpu") or "unknown CPU"
    parts = [cpu.strip()]
    if m.get("logical_cpus"):
        parts.append("%d logical CPUs" % m["logical_cpus"])
    if m.get("libtorch"):
        parts.append("LibTorch %s" % m["libtorch"])
    date = (m.get("date") or "")[:10]
    if not date:
        newest = max(os.path.getmtime(p) for p in paths)
        date = datetime.date.fromtimestamp(newest).isoformat() + " (file date)"
    busy = " - BUSY MACHINE (load %s): timings unreliable" % m.get("load_average_start") if m.get("busy") else ""
    return ", ".join(parts) + ", " + date + busy


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recognizer", action="append", default=[],
                    help="recognizer_bench --json output (repeatable: rows are merged, the first file's "
                         "machine description is used)")
    ap.add_argument("--detector", help="detector_bench --json output")
    ap.add_argument("--stream", action="append", default=[], help="stream_fps --json output (repeatable)")
    ap.add_argument("--out", default=os.path.join("docs", "cost_growth.png"), help="PNG to write")
    ap.add_argument("--input-batch", type=int, default=1,
                    help="batch size of panel (b) (default 1; the smallest measured if absent)")
    ap.add_argument("--title", default="libfer cost growth", help="first line of the figure title")
    ap.add_argument("--models", help="recognizer rows to keep: comma-separated model/architecture names")
    ap.add_argument("--threads", help="rows to keep, every part: comma-separated thread counts")
    ap.add_argument("--precisions", help="recognizer and detector rows to keep: fp32, bf16 or both")
    args = ap.parse_args()
    if not (args.recognizer or args.detector or args.stream):
        ap.error("give at least one of --recognizer, --detector, --stream")

    rec = None
    for path in args.recognizer:
        d = load(path)
        if rec is None:
            rec = d
        else:
            rec.setdefault("rows", []).extend(d.get("rows", []))
    det = load(args.detector) if args.detector else None
    streams = [(p, load(p)) for p in args.stream]
    # Fewer lines for a readable figure: the filters apply to the plots and the tables alike.
    keep_models = set(args.models.split(",")) if args.models else None
    keep_threads = {int(t) for t in args.threads.split(",")} if args.threads else None
    keep_precisions = set(args.precisions.split(",")) if args.precisions else None

    def kept(r, model_key=None, precision=True):
        if keep_threads is not None and r.get("threads") not in keep_threads:
            return False
        # haar rows have precision "-": kept whatever is asked
        if precision and keep_precisions is not None and r.get("precision", "-") not in keep_precisions | {"-"}:
            return False
        return not (model_key and keep_models is not None and r.get(model_key) not in keep_models)

    if rec:
        rec["rows"] = [r for r in rec.get("rows", []) if kept(r, "model")]
    if det:
        det["rows"] = [r for r in det.get("rows", []) if kept(r)]
    for _, d in streams:
        d["runs"] = [r for r in d.get("runs", []) if kept(r, precision=False)]

    colors = Colors()
    fig, axes = plt.subplots(2, 2, figsize=(18, 12), layout="constrained")
    md = []
    recognizer_batch_panel(axes[0][0], rec, colors, md)
    recognizer_input_panel(axes[0][1], rec, colors, md, args.input_batch)
    detector_panel(axes[1][0], det, colors, md)
    stream_panel(axes[1][1], streams, colors, md)
    sources = args.recognizer + [p for p in [args.detector] if p] + args.stream
    machine = machine_line(rec, det, sources)
    fig.suptitle("%s\n%s" % (args.title, machine), fontsize=11)
    fig.supxlabel("line style: solid fp32, dashed bf16; marker: thread count (o 1, s 2, ^ 3, D 4); sources: %s"
                  % ", ".join(os.path.basename(p) for p in sources),
                  fontsize=7, color="dimgray")
    out_dir = os.path.dirname(args.out)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print("## %s\n\n%s\n" % (args.title, machine))
    print("\n\n".join(md))
    sys.stdout.flush()
    print("wrote %s" % args.out, file=sys.stderr)


if __name__ == "__main__":
    main()
