#!/usr/bin/python3
"""Checks scripts/results_table.py on synthetic run directories (no model files,
no data): the selection is the best validation epoch, a repeated epoch counts
once, a missing report prints as "-", and --effects subtracts the accuracy of
the recipe without an ingredient from the one with it.
    python3 tests/scripts/test_results_table.py   (standard library only; exit 0 = pass)
"""
import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import results_table  # noqa: E402


def write_run(runs, name, arch, params, log, reports):
    d = os.path.join(runs, name)
    os.makedirs(d)
    with open(os.path.join(d, "model.json"), "w") as f:
        json.dump({"architecture": {"name": arch, "config": {"channels": "1"}}, "parameter_count": params}, f)
    with open(os.path.join(d, "log.jsonl"), "w") as f:
        for r in log:
            f.write(json.dumps(r) + "\n")
    for key, rep in reports.items():
        with open(os.path.join(d, "test_%s.json" % key), "w") as f:
            json.dump(dict(zip(("accuracy", "macro_f1", "correct"), rep)), f)


def run(argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert results_table.main(argv) == 0
    return out.getvalue()


class ResultsTable(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        runs = self.runs = self.tmp.name
        # Real recipe names (the table reads recipes/NAME.json), synthetic runs.
        write_run(runs, "fer2013_mobile_fer", "mobile_fer", 700000,
                  [{"epoch": 1, "val_accuracy": 0.50, "seconds": 10},
                   {"epoch": 2, "val_accuracy": 0.60, "seconds": 99},   # interrupted, repeated below
                   {"epoch": 2, "val_accuracy": 0.61, "seconds": 20},
                   {"epoch": 3, "val_accuracy": 0.58, "seconds": 30}],
                  {"none": (0.6500, 0.58), "tencrop": (0.6800, 0.60), "occlusion_mouth": (0.5400, 0.46)})
        write_run(runs, "fer2013_mobile_fer_kd", "mobile_fer", 700000,
                  [{"epoch": 1, "val_accuracy": 0.66, "seconds": 15}],
                  {"none": (0.6775, 0.64), "tencrop": (0.6990, 0.66), "occlusion_mouth": (0.5860, 0.51),
                   "occlusion_eye": (0.6656, 0.61)})
        # Per-image results (fer eval --per-image) on a 20-image split: the distilled model alone
        # right on 10 images, the other alone on none, so McNemar's p = 2 * 0.5^10.
        write_run(runs, "ferplus_mobile_fer", "mobile_fer", 700000, [{"epoch": 1, "val_accuracy": 0.8}],
                  {"none": (0.25, 0.2, "1" * 5 + "0" * 15)})
        write_run(runs, "ferplus_mobile_fer_kd", "mobile_fer", 700000, [{"epoch": 1, "val_accuracy": 0.8}],
                  {"none": (0.75, 0.7, "1" * 15 + "0" * 5)})
        write_run(runs, "fer2013_mobile_fer_kd_ens", "mobile_fer", 700000, [{"epoch": 1, "val_accuracy": 0.67}],
                  {"none": (0.6800, 0.65)})
        write_run(runs, "fer2013_mobile_fer_kd_ba", "mobile_fer", 700000, [{"epoch": 1, "val_accuracy": 0.68}],
                  {"none": (0.6900, 0.66)})
        write_run(runs, "fer2013_resnet18_w05_tt", "resnet18", 2800000, [{"epoch": 1, "val_accuracy": 0.70}],
                  {"none": (0.7100, 0.69)})

    def tearDown(self):
        self.tmp.cleanup()

    def test_rows(self):
        rows = {r["recipe"]: r for r in json.loads(run(["--runs", self.runs, "--json"]))}
        base = rows["fer2013_mobile_fer"]
        self.assertEqual(base["best_epoch"], 2)
        self.assertAlmostEqual(base["val_accuracy"], 0.61)
        self.assertEqual(base["epochs_done"], 3)
        self.assertEqual(base["epoch_seconds"], 60)  # the repeated epoch counts once, its last record
        self.assertEqual(rows["fer2013_mobile_fer_kd"]["teacher"], "models/fer2013_resnet18_w05.fermodel")
        self.assertEqual(rows["fer2013_mobile_fer_kd_ens"]["teacher"],
                         ["models/fer2013_resnet18_w05.fermodel", "models/fer2013_acnn.fermodel"])
        table = run(["--runs", self.runs])
        self.assertIn("| 65.00% / - / 68.00% |", table)  # no flip report: "-"
        self.assertIn("distilled from `fer2013_resnet18_w05.fermodel` + `fer2013_acnn.fermodel` |", table)
        # Offline targets: their models and views, from recipes/teacher_targets/NAME.json.
        spec = rows["fer2013_resnet18_w05_tt"]["teacher_targets"]
        self.assertEqual(spec["tta"], "tencrop")
        self.assertIn("distilled offline from the ten-crop probabilities of `%s` + `%s` |" % tuple(
            os.path.basename(m) for m in spec["model"]), table)
        self.assertIsNone(base["teacher_targets"])

    def test_effects(self):
        lines = [l for l in run(["--runs", self.runs, "--effects"]).splitlines() if l.startswith("| distillation |")]
        self.assertEqual(len(lines), 2)
        cells = [c.strip() for c in lines[0].strip("|").split("|")]
        self.assertEqual(cells[1:3], ["`fer2013_mobile_fer_kd`", "`fer2013_mobile_fer`"])
        # no TTA, ten-crop, one eye (missing for the base: "-"), mouth, eye or mouth (missing);
        # no per-image results, so no p-values
        self.assertEqual(cells[4:], ["+2.75", "+1.90", "-", "+4.60", "-"])
        cells = [c.strip() for c in lines[1].strip("|").split("|")]
        self.assertEqual(cells[1:4], ["`ferplus_mobile_fer_kd`", "`ferplus_mobile_fer`", "FERPlus"])
        self.assertEqual(cells[4], "+50.00 (p=0.002)")
        # The teacher ensemble against the first teacher alone.
        out = run(["--runs", self.runs, "--effects"]).splitlines()
        lines = [l for l in out if l.startswith("| teacher ensemble")]
        self.assertEqual(len(lines), 1)
        cells = [c.strip() for c in lines[0].strip("|").split("|")]
        self.assertEqual(cells[1:5], ["`fer2013_mobile_fer_kd_ens`", "`fer2013_mobile_fer_kd`", "FER-2013", "+0.25"])
        lines = [l for l in out if l.startswith("| ensemble distillation")]
        self.assertEqual(len(lines), 1)
        cells = [c.strip() for c in lines[0].strip("|").split("|")]
        self.assertEqual(cells[1:5], ["`fer2013_mobile_fer_kd_ens`", "`fer2013_mobile_fer`", "FER-2013", "+3.00"])

    def test_compare(self):
        # Any two recipes: the effects table's cells for that pair (here the same as its distillation row).
        lines = [l for l in run(["--runs", self.runs, "--compare", "ferplus_mobile_fer_kd", "ferplus_mobile_fer"])
                 .splitlines() if l.startswith("| compared |")]
        self.assertEqual(len(lines), 1)
        cells = [c.strip() for c in lines[0].strip("|").split("|")]
        self.assertEqual(cells[1:5], ["`ferplus_mobile_fer_kd`", "`ferplus_mobile_fer`", "FERPlus", "+50.00 (p=0.002)"])
        with self.assertRaises(SystemExit):
            run(["--runs", self.runs, "--compare", "ferplus_mobile_fer_kd", "no_such_recipe"])

    def test_born_again_teacher(self):
        out = run(["--runs", self.runs, "--effects"]).splitlines()
        rows = [[c.strip() for c in l.strip("|").split("|")] for l in out if "`fer2013_mobile_fer_kd_ba`" in l]
        self.assertEqual([r[2:5] for r in rows], [["`fer2013_mobile_fer`", "FER-2013", "+4.00"],
                                                  ["`fer2013_mobile_fer_kd`", "FER-2013", "+1.25"]])

    def test_offline_distillation(self):
        # NAME_tt against NAME (no teacher) and against NAME_kd_ens (the online ensemble teacher).
        write_run(self.runs, "fer2013_resnet18_w05", "resnet18", 2800000, [{"epoch": 1, "val_accuracy": 0.68}],
                  {"none": (0.6900, 0.67)})
        write_run(self.runs, "fer2013_resnet18_w05_kd_ens", "resnet18", 2800000, [{"epoch": 1, "val_accuracy": 0.69}],
                  {"none": (0.7050, 0.68)})
        out = run(["--runs", self.runs, "--effects"]).splitlines()
        rows = [[c.strip() for c in l.strip("|").split("|")] for l in out if "`fer2013_resnet18_w05_tt`" in l]
        self.assertEqual([r[0] for r in rows], ["offline distillation",
                                                "offline ten-crop targets instead of the online teacher ensemble"])
        self.assertEqual([r[2:5] for r in rows], [["`fer2013_resnet18_w05`", "FER-2013", "+2.00"],
                                                  ["`fer2013_resnet18_w05_kd_ens`", "FER-2013", "+0.50"]])
        # NAME_tt2 (the born-again model's own targets) against NAME_tt (its two teachers' targets).
        write_run(self.runs, "fer2013_resnet18_w05_tt2", "resnet18", 2800000, [{"epoch": 1, "val_accuracy": 0.70}],
                  {"none": (0.7075, 0.69)})
        out = run(["--runs", self.runs, "--effects"]).splitlines()
        rows = [[c.strip() for c in l.strip("|").split("|")] for l in out if "`fer2013_resnet18_w05_tt2`" in l]
        self.assertEqual([r[0] for r in rows], ["the born-again teacher's ten-crop targets instead of its two teachers'"])
        self.assertEqual(rows[0][2:5], ["`fer2013_resnet18_w05_tt`", "FER-2013", "-0.25"])

    def test_update_readme(self):
        readme = os.path.join(self.runs, "README.md")
        stale = ("# Results\n\ntext before\n\n"
                 "| model | recipe | data | parameters | old |\n| --- |\n| stale row |\n\nbetween one\n\n"
                 "| ingredient | with | without | data | old |\n| --- |\n| stale effect |\n\nbetween two\n\n"
                 "| model | recipe | data | no occlusion | old |\n| --- |\n| stale occlusion |\n| stale 2 |\n\nafter\n")
        with open(readme, "w") as f:
            f.write(stale)
        self.assertEqual(run(["--runs", self.runs, "--update-readme", readme]), "")
        with open(readme) as f:
            text = f.read()
        self.assertNotIn("stale", text)
        for block in (["--runs", self.runs], ["--runs", self.runs, "--occlusion"], ["--runs", self.runs, "--effects"]):
            self.assertIn(run(block), text)
        for words in ("# Results\n\ntext before\n\n| model | recipe", "\n\nbetween one\n\n| ingredient",
                      "\n\nbetween two\n\n| model | recipe | data | no occlusion", "\n\nafter\n"):
            self.assertIn(words, text)
        # A file without one of the tables is an error and stays as it was.
        with open(readme, "w") as f:
            f.write(stale.replace("| ingredient |", "| something else |"))
        with self.assertRaises(SystemExit) as e:
            run(["--runs", self.runs, "--update-readme", readme])
        self.assertIn("0 tables start with | ingredient | with | without | data |", str(e.exception))
        with open(readme) as f:
            self.assertEqual(f.read(), stale.replace("| ingredient |", "| something else |"))

    def test_shipped_copy_stands_in_for_missing_per_image_results(self):
        # A base run whose reports predate per-image results, with the shipped copy's reports in shipped/.
        write_run(self.runs, "fer2013_resnet18_w05", "resnet18", 2800000, [{"epoch": 1, "val_accuracy": 0.68}],
                  {"none": (0.30, 0.25)})
        os.makedirs(os.path.join(self.runs, "fer2013_resnet18_w05", "shipped"))
        with open(os.path.join(self.runs, "fer2013_resnet18_w05", "shipped", "test_none.json"), "w") as f:
            json.dump({"accuracy": 0.35, "macro_f1": 0.3, "correct": "1" * 7 + "0" * 13}, f)
        write_run(self.runs, "fer2013_resnet18_w05_kd_ens", "resnet18", 2800000, [{"epoch": 1, "val_accuracy": 0.69}],
                  {"none": (0.80, 0.75, "1" * 17 + "0" * 3), "tencrop": (0.85, 0.8, "1" * 20)})
        out = run(["--runs", self.runs, "--effects"]).splitlines()
        cells = [[c.strip() for c in l.strip("|").split("|")] for l in out
                 if l.startswith("| ensemble distillation |") and "`fer2013_resnet18_w05_kd_ens`" in l]
        self.assertEqual(len(cells), 1)
        # The difference is the run's own (0.80 - 0.30); the p-value, marked, from the shipped copy's
        # per-image results: 10 images only the distilled model gets right, none the other way.
        self.assertEqual(cells[0][4], "+50.00 (p~=0.002)")
        self.assertEqual(cells[0][5], "-")  # no ten-crop report for the base
        # The main table is unchanged by the stand-in, and --archive keeps shipped/.
        self.assertIn("| 30.00% / - / - |", run(["--runs", self.runs]))
        dest = os.path.join(self.runs, "archived")
        run(["--runs", self.runs, "--recipes", "fer2013_resnet18_w05", "--archive", dest])
        with open(os.path.join(dest, "fer2013_resnet18_w05", "shipped", "test_none.json")) as f:
            self.assertEqual(json.load(f)["correct"], "1" * 7 + "0" * 13)
        out = run(["--runs", dest, "--recipes", "fer2013_resnet18_w05", "--json"])
        self.assertEqual(json.loads(out)[0]["test"]["bf16_none"]["correct_shipped"], "1" * 7 + "0" * 13)

    def test_compare_reports(self):
        with tempfile.TemporaryDirectory() as tmp:
            def report(name, correct, data="test"):
                path = os.path.join(tmp, name)
                with open(path, "w") as f:
                    f.write(json.dumps({"model": "m.fermodel", "tta": name, "data": data, "correct": correct}) + "\n")
                return path
            # 12 images: A right on 9, B on 5; A alone on 5, B alone on 1.
            a = report("a", "111111111000")
            b = report("b", "111100000100")
            out = io.StringIO()
            r = results_table.compare_reports(a, b, out)
            self.assertEqual((r["only_a"], r["only_b"]), (5, 1))
            self.assertAlmostEqual(r["a"] - r["b"], 4 / 12)
            self.assertAlmostEqual(r["p"], results_table.mcnemar_p("111111111000", "111100000100"))
            self.assertIn("+33.33 points; only A right 5, only B right 1", out.getvalue())
            with self.assertRaises(ValueError):
                results_table.compare_reports(a, report("c", "1111"))
            with self.assertRaises(ValueError):
                results_table.compare_reports(a, report("d", "111100000100", data="val"))
            no_per_image = os.path.join(tmp, "e")
            with open(no_per_image, "w") as f:
                f.write(json.dumps({"model": "m", "data": "test", "accuracy": 0.5}) + "\n")
            with self.assertRaises(ValueError):
                results_table.compare_reports(a, no_per_image)

    def test_mcnemar(self):
        p = results_table.mcnemar_p
        self.assertAlmostEqual(p("1" * 10, "0" * 10), 2 * 0.5 ** 10)
        self.assertAlmostEqual(p("111110", "000001"), 14 / 64)  # 5 against 1: 2 * P(X <= 1), X ~ B(6, 1/2)
        self.assertEqual(p("1100", "0011"), 1.0)  # an even split
        self.assertEqual(p("1010", "1010"), 1.0)  # no discordant image
        self.assertAlmostEqual(p("10" * 2000, "01" * 2000), 1.0)  # large n stays finite
        self.assertLess(p("1" * 3000 + "0" * 600, "0" * 3000 + "1" * 600), 1e-100)
        with self.assertRaises(ValueError):
            p("10", "101")


if __name__ == "__main__":
    unittest.main()
