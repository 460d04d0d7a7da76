#!/usr/bin/python3
"""Prints the README's table of trained models from the training runs.

For every recipe in recipes/ whose run directory (runs/NAME by default) holds
a trained model: the architecture and its options, the dataset, the parameter
count (from the model file's tensor table), the selection (best epoch and its
validation accuracy, from log.jsonl), the test accuracy and macro-F1 reported
once per final model by scripts/train_recipe.sh (test_none.json,
test_flip.json, test_tencrop.json: bf16) and scripts/quantize_recipe.sh
(test_int8_*.json), and the epoch time (the sum over the log's epochs; an
epoch repeated after an interrupted run counts once, its last record).
With --occlusion: the table of test accuracy / macro-F1 under synthetic
occlusion instead (test_occlusion_*.json, scripts/eval_recipe.sh).
With --effects: what one ingredient adds, from pairs of recipes that differ
in it alone: NAME_kd against NAME (distillation), NAME against NAME_noatt
(attention), NAME_ens against NAME (distillation from an ensemble of
teachers against the first of them alone), NAME_kd_ens against NAME
(distillation from an ensemble against none), NAME_kd_ba against NAME and
against NAME_kd (distillation from the born-again ResNet, itself distilled
from an ensemble, against none and against the ResNet it was born from),
NAME_tt against NAME (distillation from offline teacher targets, e.g. an
ensemble's ten-crop probabilities, against none) and against NAME_kd_ens
(those targets instead of the online ensemble teacher), NAME_tt2 against
NAME_tt (the ten-crop targets of the born-again ResNet alone instead of those
of the two ResNets it learned from); differences in test accuracy points (bf16), unoccluded and
occluded, each with the two-sided p-value of McNemar's exact test where
both reports hold per-image results ("correct", fer eval --per-image): the
chance of a split of the images only one model gets right at least this
uneven if both models were equally accurate. A run whose own reports predate
per-image results may hold RUN/shipped/test_*.json: the same reports of the
shipped copy of its model (scripts/eval_recipe.sh NAME DATA DIR, with the
file from models/ as DIR/best.fermodel); its per-image results then stand in
for the p-value only (marked "p~" in the table), the difference stays the
run's own.

    scripts/results_table.py [--runs DIR] [--recipes NAME ...] [--json] [--occlusion | --effects] [--archive DIR]
    scripts/results_table.py --runs docs/results      # the README's table, from the archived reports
    scripts/results_table.py --runs docs/results --update-readme README.md   # rewrite the README's three tables

--update-readme FILE replaces, in FILE, each of the three tables (the main
one, --occlusion, --effects: a block of lines from its header row to the next
blank line) with the table printed now; a table whose header is not found is
an error, and nothing is written then.

A figure that is missing (not yet evaluated) prints as "-". Standard library only.
"""
import argparse
import contextlib
import io
import json
import math
import os
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
OCCLUSIONS = ("eye", "mouth", "eye_or_mouth")


def model_header(path):
    """The JSON header of a .fermodel (fixed 32-byte preamble, then the header)."""
    with open(path, "rb") as f:
        fixed = f.read(32)
        if len(fixed) < 32 or fixed[:4] != b"\x89FER":
            raise ValueError("%s is not a libfer model file" % path)
        header_size = struct.unpack_from("<Q", fixed, 16)[0]
        if header_size > 64 << 20:
            raise ValueError("%s: absurd header size" % path)
        return json.loads(f.read(header_size).decode("utf-8"))


def parameter_count(header):
    n = 0
    for table in header["tensors"].values():
        for t in table:
            if t["name"].rsplit(".", 1)[-1] in BUFFERS:
                continue
            size = 1
            for d in t["shape"]:
                size *= d
            n += size
    return n


def epochs(log_path):
    """Per epoch, its last record in log.jsonl (a resumed run may repeat one)."""
    by_epoch = {}
    if os.path.exists(log_path):
        with open(log_path) as f:
            for line in f:
                line = line.strip()
                if line:
                    r = json.loads(line)
                    by_epoch[int(r["epoch"])] = r
    return [by_epoch[k] for k in sorted(by_epoch)]


def report(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        text = f.read().strip()
    # tee'd output: the JSON object is the whole file (a failed run leaves it empty)
    try:
        return json.loads(text)
    except ValueError:
        return None


def run_header(run_dir):
    """The model header of a run: from best.fermodel, or from model.json in an archive (--archive)."""
    model = os.path.join(run_dir, "best.fermodel")
    if os.path.exists(model):
        header = model_header(model)
        header["parameter_count"] = parameter_count(header)
        return header
    archived = os.path.join(run_dir, "model.json")
    if os.path.exists(archived):
        with open(archived) as f:
            return json.load(f)
    return None


def archive(name, run_dir, dest):
    """Copies what the table reads (log, test reports, the model header without its tensor table) to dest/name."""
    header = run_header(run_dir)
    if header is None:
        return False
    out = os.path.join(dest, name)
    os.makedirs(out, exist_ok=True)
    header = {k: v for k, v in header.items() if k != "tensors"}
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(header, f, indent=1, sort_keys=True)
        f.write("\n")
    for file in sorted(os.listdir(run_dir)):
        if file == "log.jsonl" or (file.startswith("test_") and file.endswith(".json")):
            shutil.copyfile(os.path.join(run_dir, file), os.path.join(out, file))
    shipped = os.path.join(run_dir, "shipped")
    if os.path.isdir(shipped):
        os.makedirs(os.path.join(out, "shipped"), exist_ok=True)
        for file in sorted(os.listdir(shipped)):
            if file.startswith("test_") and file.endswith(".json"):
                shutil.copyfile(os.path.join(shipped, file), os.path.join(out, "shipped", file))
    return True


def summary(rep, stand_in=None):
    """What the tables use of a report: accuracy, macro-F1 and, where present, the per-image results
    (else those of `stand_in`, the shipped copy's report, as "correct_shipped")."""
    s = {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"]}
    if isinstance(rep.get("correct"), str):
        s["correct"] = rep["correct"]
    elif stand_in and isinstance(stand_in.get("correct"), str):
        s["correct_shipped"] = stand_in["correct"]
    return s


def mcnemar_p(a, b):
    """Two-sided exact McNemar p-value for per-image results a, b ('0'/'1' strings over the same images)."""
    if len(a) != len(b):
        raise ValueError("per-image results over different image counts: %d and %d" % (len(a), len(b)))
    only_a = sum(1 for x, y in zip(a, b) if x == "1" and y == "0")
    only_b = sum(1 for x, y in zip(a, b) if x == "0" and y == "1")
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    # P(X <= k) for X ~ Binomial(n, 1/2), summed in log space (n can be in the thousands).
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(v - top) for v in logs)
    return min(1.0, 2 * tail)


def compare_reports(path_a, path_b, out=sys.stdout):
    """Paired comparison of two `fer eval --json --per-image` reports over the same data:
    each accuracy, the difference, the images only one of them gets right, McNemar's exact p."""
    reps = []
    for path in (path_a, path_b):
        with open(path) as f:
            rep = json.loads(f.read().strip().splitlines()[-1])
        if not isinstance(rep.get("correct"), str):
            raise ValueError("%s has no per-image results: run fer eval with --json --per-image" % path)
        reps.append(rep)
    a, b = reps
    if a.get("data") != b.get("data") or len(a["correct"]) != len(b["correct"]):
        raise ValueError("the reports are over different data: %s (%d images) and %s (%d images)" %
                         (a.get("data"), len(a["correct"]), b.get("data"), len(b["correct"])))
    only_a = sum(1 for x, y in zip(a["correct"], b["correct"]) if x == "1" and y == "0")
    only_b = sum(1 for x, y in zip(a["correct"], b["correct"]) if x == "0" and y == "1")
    acc = [r["correct"].count("1") / len(r["correct"]) for r in reps]
    p = mcnemar_p(a["correct"], b["correct"])
    label = lambda r: "%s (tta %s)" % (r.get("model"), r.get("tta"))
    out.write("A: %s  %.2f%%\nB: %s  %.2f%%\n" % (label(a), 100 * acc[0], label(b), 100 * acc[1]))
    out.write("on %s, %d images: A - B = %+.2f points; only A right %d, only B right %d; McNemar exact %s\n" %
              (a.get("data"), len(a["correct"]), 100 * (acc[0] - acc[1]), only_a, only_b, p_text(p)))
    return {"a": acc[0], "b": acc[1], "only_a": only_a, "only_b": only_b, "p": p}


def p_text(p, mark=""):
    return "p%s<0.001" % mark if p < 0.001 else "p%s=%.3f" % (mark, p)


def row(name, run_dir):
    header = run_header(run_dir)
    if header is None:
        return None
    arch = header["architecture"]
    log = epochs(os.path.join(run_dir, "log.jsonl"))
    best = max(log, key=lambda r: r.get("val_accuracy", -1)) if log else None
    with open(os.path.join(ROOT, "recipes", name + ".json")) as f:
        recipe = json.load(f)
    r = {
        "recipe": name,
        "architecture": arch["name"],
        "options": arch.get("config", {}),
        "dataset": "FERPlus" if name.startswith("ferplus_") else "FER-2013",
        "teacher": recipe.get("teacher"),
        "teacher_targets": targets_spec(recipe),
        "init": recipe.get("init"),
        "parameters": header["parameter_count"],
        "epochs_done": len(log),
        "epochs_planned": recipe.get("epochs"),
        "best_epoch": best["epoch"] if best else None,
        "val_accuracy": best.get("val_accuracy") if best else None,
        "epoch_seconds": sum(e.get("seconds", 0) for e in log),
        "hardware": header.get("provenance", {}).get("hardware"),
        "test": {},
    }
    def read(file):
        rep = report(os.path.join(run_dir, file))
        return summary(rep, report(os.path.join(run_dir, "shipped", file))) if rep else None

    for prefix, precision in (("test_", "bf16"), ("test_int8_", "int8")):
        for tta in ("none", "flip", "tencrop"):
            rep = read("%s%s.json" % (prefix, tta))
            if rep:
                r["test"]["%s_%s" % (precision, tta)] = rep
    for occlusion in OCCLUSIONS:
        rep = read("test_occlusion_%s.json" % occlusion)
        if rep:
            r["test"]["occlusion_" + occlusion] = rep
    return r


def targets_spec(recipe):
    """The spec (recipes/teacher_targets/NAME.json) of a recipe's offline teacher targets, or None."""
    if "teacher-targets" not in recipe:
        return None
    name = os.path.splitext(os.path.basename(recipe["teacher-targets"]))[0]
    with open(os.path.join(ROOT, "recipes", "teacher_targets", name + ".json")) as f:
        return json.load(f)


def pct(v):
    return "-" if v is None else "%.2f%%" % (100 * v)


def description(r):
    desc = "`%s`" % r["architecture"]
    if r["options"]:
        desc += " " + ", ".join("%s=%s" % kv for kv in sorted(r["options"].items()))
    if r["teacher"]:
        teachers = r["teacher"] if isinstance(r["teacher"], list) else [r["teacher"]]
        desc += ", distilled from %s" % " + ".join("`%s`" % os.path.basename(t) for t in teachers)
    if r.get("teacher_targets"):
        spec = r["teacher_targets"]
        models = spec["model"] if isinstance(spec["model"], list) else [spec["model"]]
        views = {"tencrop": "ten-crop ", "flip": "flip "}.get(spec.get("tta", "none"), "")
        desc += ", distilled offline from the %sprobabilities of %s" % (
            views, " + ".join("`%s`" % os.path.basename(m) for m in models))
    if r.get("init"):
        desc += ", fine-tuned from `%s`" % os.path.basename(r["init"])
    return desc


def occlusion_markdown(rows):
    print("| model | recipe | data | no occlusion | one eye | mouth | eye or mouth (1/3 each) |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        t = r["test"]
        if not any("occlusion_" + o in t for o in OCCLUSIONS):
            continue
        cell = lambda k: "%s / %s" % (pct(t.get(k, {}).get("accuracy")), pct(t.get(k, {}).get("macro_f1")))
        print("| %s | `%s` | %s | %s |" % (description(r), r["recipe"], r["dataset"],
                                          " | ".join(cell(k) for k in ["bf16_none"] + ["occlusion_" + o for o in OCCLUSIONS])))


# (suffix of the variant recipe, suffix of the base recipe, what the variant adds)
EFFECTS = (("_kd", "", "distillation"), ("", "_noatt", "attention"), ("_ens", "", "teacher ensemble"),
           ("_kd_ens", "", "ensemble distillation"), ("_kd_ba", "", "distillation from the born-again teacher"),
           ("_kd_ba", "_kd", "born-again teacher instead of its own teacher"), ("_w14", "", "1.4x width"),
           ("_tt", "", "offline distillation"),
           ("_tt", "_kd_ens", "offline ten-crop targets instead of the online teacher ensemble"),
           ("_tt2", "_tt", "the born-again teacher's ten-crop targets instead of its two teachers'"),
           ("_v2", "", "no decay on norms and biases, zero-init residuals, weight EMA 0.999"),
           ("_ft", "", "12 more epochs from the trained model (lr 0.01, cosine)"),
           ("_jpeg", "", "JPEG re-encoding of half the training samples (quality 70-100)"))


def effect_pairs(rows):
    """(ingredient, with, without) for each pair of trained recipes that differ in one ingredient alone."""
    by_name = {r["recipe"]: r for r in rows}
    pairs = []
    for r in rows:
        for with_suffix, without_suffix, what in EFFECTS:
            name = r["recipe"]
            if with_suffix and not name.endswith(with_suffix):
                continue
            stem = name[: len(name) - len(with_suffix)] if with_suffix else name
            base = by_name.get(stem + without_suffix)
            if base is not None and base is not r:
                pairs.append((what, r, base))
    return pairs


def effects_markdown(rows, pairs=None):
    """The effects table for `pairs` of (what, with, without) rows; default: effect_pairs(rows)."""
    keys = [("bf16_none", "no TTA"), ("bf16_tencrop", "ten-crop"), ("occlusion_eye", "one eye"),
            ("occlusion_mouth", "mouth"), ("occlusion_eye_or_mouth", "eye or mouth")]
    print("| ingredient | with | without | data | %s |" % " | ".join(label for _, label in keys))
    print("| --- | --- | --- | --- |" + " ---: |" * len(keys))
    for what, with_, without in effect_pairs(rows) if pairs is None else pairs:
        cells = []
        for k, _ in keys:
            a, b = with_["test"].get(k, {}), without["test"].get(k, {})
            if "accuracy" not in a or "accuracy" not in b:
                cells.append("-")
                continue
            cell = "%+.2f" % (100 * (a["accuracy"] - b["accuracy"]))
            pa, pb = a.get("correct", a.get("correct_shipped")), b.get("correct", b.get("correct_shipped"))
            if pa is not None and pb is not None:
                stand_in = "correct" not in a or "correct" not in b
                cell += " (%s)" % p_text(mcnemar_p(pa, pb), "~" if stand_in else "")
            cells.append(cell)
        print("| %s | `%s` | `%s` | %s | %s |" % (what, with_["recipe"], without["recipe"], with_["dataset"],
                                                " | ".join(cells)))


def markdown(rows):
    print("| model | recipe | data | parameters | val (selection), epoch | test accuracy, no TTA / flip / ten-crop "
          "| macro-F1 | int8, no TTA / flip / ten-crop | epochs, epoch time |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        t = r["test"]
        acc = lambda k: pct(t.get(k, {}).get("accuracy"))
        desc = description(r)
        done = "%d/%d" % (r["epochs_done"], r["epochs_planned"]) if r["epochs_planned"] else str(r["epochs_done"])
        print("| %s | `%s` | %s | %.2f M | %s, %s | %s / %s / %s | %s | %s / %s / %s | %s, %s s |" % (
            desc, r["recipe"], r["dataset"], r["parameters"] / 1e6, pct(r["val_accuracy"]), r["best_epoch"],
            acc("bf16_none"), acc("bf16_flip"), acc("bf16_tencrop"), pct(t.get("bf16_none", {}).get("macro_f1")),
            acc("int8_none"), acc("int8_flip"), acc("int8_tencrop"), done, format(round(r["epoch_seconds"]), ",")))


def render(printer, rows):
    """What printer(rows) prints, as a string."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        printer(rows)
    return out.getvalue()


def update_readme(path, rows):
    """Replaces the three tables in the Markdown file at path (each located by its header row); returns 0."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    cells = lambda line: [c.strip() for c in line.split("|")[1:5]]  # a table is found by its first four columns
    for printer in (markdown, occlusion_markdown, effects_markdown):
        table = render(printer, rows).rstrip("\n").split("\n")
        starts = [i for i, line in enumerate(lines) if line.startswith("|") and cells(line) == cells(table[0])]
        if len(starts) != 1:
            raise SystemExit("%s: %d tables start with | %s |, expected 1"
                             % (path, len(starts), " | ".join(cells(table[0]))))
        end = starts[0]
        while end < len(lines) and lines[end].strip():
            end += 1
        lines[starts[0]:end] = table
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    os.replace(path + ".tmp", path)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default=os.path.join(ROOT, "runs"), help="directory of the run directories (runs/)")
    ap.add_argument("--recipes", nargs="+", help="recipe names (default: every recipe with a trained model)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON instead of a Markdown table")
    ap.add_argument("--occlusion", action="store_true",
                    help="print the table of accuracy under synthetic occlusion (test_occlusion_*.json)")
    ap.add_argument("--archive", metavar="DIR",
                    help="also copy each run's log, test reports and model header to DIR/RECIPE (docs/results), "
                         "from which --runs DIR prints the same table without the model files")
    ap.add_argument("--effects", action="store_true",
                    help="print what distillation (NAME_kd vs NAME), attention (NAME vs NAME_noatt) and a teacher "
                         "ensemble (NAME_ens vs NAME, NAME_kd_ens vs NAME) add")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"),
                    help="print the effects table's row for any two trained recipes: A's accuracy minus B's, "
                         "with McNemar's p where both have per-image results")
    ap.add_argument("--compare-reports", nargs=2, metavar=("A.json", "B.json"),
                    help="paired comparison of two `fer eval --json --per-image` reports over the same data "
                         "(two models, or one model in two views): accuracies, difference, McNemar's exact p")
    ap.add_argument("--update-readme", metavar="FILE",
                    help="replace the three tables (main, --occlusion, --effects) in the Markdown FILE")
    args = ap.parse_args(argv)
    if args.compare_reports:
        try:
            compare_reports(*args.compare_reports)
        except (OSError, ValueError) as e:
            ap.error(str(e))
        return 0
    if args.compare:
        args.recipes = args.compare
    names = args.recipes or sorted(f[:-5] for f in os.listdir(os.path.join(ROOT, "recipes")) if f.endswith(".json"))
    if args.archive:
        for n in names:
            archive(n, os.path.join(args.runs, n), args.archive)
    rows = [r for r in (row(n, os.path.join(args.runs, n)) for n in names) if r]
    if args.update_readme:
        return update_readme(args.update_readme, rows)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
    elif args.occlusion:
        occlusion_markdown(rows)
    elif args.compare:
        by_name = {r["recipe"]: r for r in rows}
        missing = [n for n in args.compare if n not in by_name]
        if missing:
            ap.error("no trained run for %s under %s" % (", ".join(missing), args.runs))
        a, b = (by_name[n] for n in args.compare)
        effects_markdown(rows, [("compared", a, b)])
    elif args.effects:
        effects_markdown(rows)
    else:
        markdown(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
