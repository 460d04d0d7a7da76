#!/usr/bin/env python3
"""Every recipe in recipes/ still trains and evaluates through the scripts the
README's results table names (scripts/train_recipe.sh, then eval_recipe.sh),
on a tiny synthetic dataset laid out as the recipe's protocol expects: one
training step of one epoch (TRAIN_ARGS), selection on the tiny validation
split, the test reports with and without TTA and under occlusion. It catches
a recipe key the CLI no longer knows, a teacher file that is missing from
models/ or does not fit the data (its classes), and an option value the
trainer refuses, before anyone spends hours on a real run.

    python3 tests/scripts/test_recipes.py FER_CLI [RECIPE...]
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import results_table  # noqa: E402

FER_CLI = None
ONLY = []

FER2013_CLASSES = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
FERPLUS_VOTE_COLUMNS = 10  # neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
FERPLUS_CLASSES = 8
PER_CLASS = 3  # images per class in every split of the synthetic data


def write_bmp(path, seed):
    """A 48x48 24-bit BMP of a seeded pattern (no image library needed)."""
    w = h = 48
    rows = []
    for y in range(h):
        row = bytearray()
        for x in range(w):
            v = (x * 5 + y * 3 + seed * 37 + (x * y) % (seed + 7)) % 256
            row += bytes((v, v, v))
        row += b"\0" * ((4 - len(row) % 4) % 4)
        rows.append(bytes(row))
    pixels = b"".join(reversed(rows))
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    path.write_bytes(header + info + pixels)


def write_fer2013_tree(data, per_class):
    for split_dir in [data / "fer2013" / "train", data / "fer2013" / "val", data / "fer2013" / "test",
                      data / "fer2013_train_restored"]:
        for k, name in enumerate(FER2013_CLASSES):
            folder = split_dir / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                write_bmp(folder / ("%d.bmp" % i), k * 100 + i)


def write_ferplus_tree(data, per_class):
    for split in ["FER2013Train", "FER2013Valid", "FER2013Test"]:
        folder = data / "ferplus" / split
        folder.mkdir(parents=True)
        lines = []
        for k in range(FERPLUS_CLASSES):
            for i in range(per_class):
                name = "fer%02d%02d.bmp" % (k, i)
                write_bmp(folder / name, k * 100 + i)
                votes = [0] * FERPLUS_VOTE_COLUMNS
                votes[k] = 8
                votes[(k + 1) % FERPLUS_CLASSES] = 2
                lines.append('%s,"(0, 0, 48, 48)",%s' % (name, ",".join(map(str, votes))))
        (folder / "label.csv").write_text("\n".join(lines) + "\n")


def recipes():
    names = sorted(p.stem for p in (ROOT / "recipes").glob("*.json"))
    return [n for n in names if not ONLY or n in ONLY]


class RecipesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="fer_recipes_")
        cls.data = Path(cls.tmp.name) / "data"
        write_fer2013_tree(cls.data, PER_CLASS)
        write_ferplus_tree(cls.data, PER_CLASS)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_every_recipe_is_named_for_its_protocol(self):
        names = recipes()
        self.assertTrue(names, "no recipes found in recipes/")
        for name in names:
            self.assertTrue(name.startswith(("fer2013_", "ferplus_")), name)
            recipe = json.loads((ROOT / "recipes" / (name + ".json")).read_text())
            self.assertIsInstance(recipe, dict, name)
            self.assertIn("arch", recipe, name)

    def test_every_recipe_trains_one_step_and_evaluates(self):
        for name in recipes():
            with self.subTest(recipe=name):
                out = Path(self.tmp.name) / "runs" / name
                env = dict(os.environ, FER_CLI=str(FER_CLI), THREADS="1",
                           TRAIN_ARGS="--epochs 1 --max-steps 1 --batch 8 --calibrate 0 --seed 1")
                r = subprocess.run([str(ROOT / "scripts" / "train_recipe.sh"), name, str(self.data), str(out)],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                self.assertEqual(r.returncode, 0, "%s failed:\n%s" % (name, r.stdout[-3000:]))
                recipe = json.loads((ROOT / "recipes" / (name + ".json")).read_text())
                log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
                self.assertEqual([e["epoch"] for e in log], [1], name)
                classes = FERPLUS_CLASSES if name.startswith("ferplus_") else len(FER2013_CLASSES)
                images = classes * PER_CLASS
                for report in ["test_none", "test_flip", "test_tencrop", "test_occlusion_eye",
                               "test_occlusion_mouth", "test_occlusion_eye_or_mouth"]:
                    j = json.loads((out / (report + ".json")).read_text())
                    self.assertEqual(j["count"], images, "%s %s" % (name, report))
                    self.assertEqual(len(j["correct"]), images, "%s %s" % (name, report))
                # The recipe's teachers are the ones the trained model names.
                teachers = recipe.get("teacher", [])
                teachers = [teachers] if isinstance(teachers, str) else teachers
                provenance = results_table.model_header(str(out / "best.fermodel")).get("provenance", {})
                self.assertEqual(provenance.get("teacher", ""), ", ".join(teachers), name)
                # Offline targets: computed beside the run (teacher_targets/) and trained from.
                if "teacher-targets" in recipe:
                    targets = out.parent / "teacher_targets" / Path(recipe["teacher-targets"]).name
                    self.assertTrue(targets.is_file(), name)
                    self.assertEqual(provenance.get("teacher_targets", ""), str(targets), name)

    def test_train_default_model_writes_the_shipped_kind_of_file(self):
        # scripts/train_default_model.sh reproduces models/default.fermodel:
        # the same network, int8-calibrated, bf16-stored.
        if ONLY and "fer2013_resnet18_w035_tt" not in ONLY:
            self.skipTest("recipe fer2013_resnet18_w035_tt not selected")
        out = Path(self.tmp.name) / "default_runs" / "fer2013_resnet18_w035_tt"
        env = dict(os.environ, FER_CLI=str(FER_CLI), THREADS="1",
                   TRAIN_ARGS="--epochs 1 --max-steps 1 --batch 8 --calibrate 0 --seed 1")
        r = subprocess.run([str(ROOT / "scripts" / "train_default_model.sh"), str(self.data), str(out)],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:])
        made = results_table.model_header(str(out / "default.fermodel"))
        shipped = results_table.model_header(str(ROOT / "models" / "default.fermodel"))
        self.assertEqual(made["architecture"], shipped["architecture"])
        self.assertEqual(made["head"], shipped["head"])
        self.assertEqual(made["classes"], shipped["classes"])
        self.assertIn("activation_ranges", made.get("int8", {}))
        self.assertEqual(made["storage"], shipped["storage"])
        self.assertIn("best.fermodel", made["provenance"].get("converted_from", ""))
        for report in ["test_int8_none", "test_int8_flip", "test_int8_tencrop"]:
            self.assertEqual(json.loads((out / (report + ".json")).read_text())["count"],
                             len(FER2013_CLASSES) * PER_CLASS, report)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    FER_CLI = Path(sys.argv[1]).resolve()
    ONLY = sys.argv[2:]
    unittest.main(argv=[sys.argv[0]], verbosity=2)
