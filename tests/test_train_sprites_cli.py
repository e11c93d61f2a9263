"""End-to-end runs of train_sprites.py in a subprocess, as a user would run it."""

import contextlib
import io
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf
from helpers import ROOT, run_script

import keras_ddpm.networks.unet  # noqa: F401  (registers UNet for loading)
from keras_ddpm.apps.sprites.presets import PRESETS
from keras_ddpm.cli import train_sprites

SPRITES = os.environ.get("KERAS_DDPM_SPRITES", os.path.join(ROOT, "..", "shared", "data", "sprites"))

EXPECTED_FILES = [
    "data.png",
    "loss.csv",
    "loss.png",
    "checkpoints/checkpoints.csv",
    "checkpoints/epoch_0002.keras",
    "samples/samples_epoch_0001.png",
    "samples/samples_epoch_0002.png",
    "model.keras",
    "samples_ddpm.png",
    "samples_ddim.png",
    "samples_per_class.png",
    "schedules.png",
    "forward_process.png",
    "summary.json",
    "REPORT.md",
    "eval/results.md",
    "eval/per_class.png",
]


class TrainSpritesEndToEndTest(tf.test.TestCase):
    def test_tiny_run_writes_its_grids_and_a_loadable_model(self):
        out = tempfile.mkdtemp()
        saved = os.path.join(out, "saved", "sprites.keras")
        result = run_script(
            "train_sprites.py", "--preset", "cpu", "--data-dir", SPRITES, "--tfds-dir", os.path.join(out, "tfds"),
            "--out", out, "--subset", "200", "--epochs", "2", "--repeat", "1", "--base-features", "8",
            "--timesteps", "12", "--ddim-steps", "4", "--num-samples", "14", "--plot-samples", "7",
            "--plot-every", "1", "--checkpoint-every", "2", "--steps-per-execution", "2",
            "--save-model", saved, "--no-jit", "--seed", "3", "--verbose", "0", "--validation-fraction", "0.1",
            "--evaluate", "--eval-samples", "16", "--eval-ddim-steps", "3,T", "--eval-etas", "0",
            "--eval-modes", "conditional",
            "--eval-per-class", "1", "--classifier", os.path.join(out, "classifier.keras"),
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        for name in EXPECTED_FILES:
            path = os.path.join(out, name)
            self.assertTrue(os.path.isfile(path) and os.path.getsize(path) > 0, f"missing {name}")
        self.assertIn("7 classes (person, creature, food, magic, item, terrain, effect)", result.stdout)
        self.assertIn("via TFDS config 'nethack_slashem'", result.stdout)
        with open(os.path.join(out, "loss.csv")) as handle:
            rows = handle.read().strip().splitlines()
        self.assertLen(rows, 3)  # header + 2 epochs
        self.assertIn("val_loss_t000_", rows[0], "the validation loss per timestep bin, as for the bicycle")
        self.assertIn("training on 180 sprites, 20 held out", result.stdout)
        logged = {os.path.basename(folder) for folder, _, files in os.walk(os.path.join(out, "tensorboard"))
                  if any("tfevents" in f for f in files)}
        self.assertContainsSubset({"train", "samples"}, logged, "TensorBoard scalars and sample grids")
        self.assertFalse(os.path.exists(os.path.join(out, "backup")), "backup removed after a finished run")
        leftovers = [f for _, _, files in os.walk(out) for f in files if ".tmp" in f]
        self.assertEmpty(leftovers)
        with open(os.path.join(out, "REPORT.md")) as handle:
            report = handle.read()
        for section in ("## The forward process", "real half A (floor)", "| DDIM-12 eta 0 | conditional | 12 |",
                        "Class fidelity", "Memorisation", "held-out", "When is DDIM the same as DDPM",
                        "largest pixel difference", "What it buys here (conditional sampling)", "v-prediction"):
            self.assertIn(section, report)
        model = keras.saving.load_model(saved, compile=False)
        self.assertEqual(model.network.num_classes, 7)
        self.assertEqual(model.network.base_features, 8)
        self.assertEqual(model.schedule.timesteps, 12)
        self.assertEqual(model.prediction, "v")  # the cpu preset's, kept by the saved model
        x = np.zeros((2, 16, 16, 3), np.float32)
        self.assertEqual(model.network([x, np.zeros(2, np.int32), np.zeros(2, np.int32)]).shape, x.shape)

        # The run exported its samplers beside --save-model; sample.py draws a sprite grid from them.
        export = os.path.join(out, "saved", "sprites")
        self.assertTrue(os.path.isfile(os.path.join(export, "saved_model.pb")), os.listdir(os.path.dirname(export)))
        grid = os.path.join(out, "drawn.npy")
        drawn = run_script("sample.py", export, "--num-samples", "14", "--ddim-steps", "4", "--labels", "0,1",
                           "--seed", "1", "--out", grid)
        self.assertEqual(drawn.returncode, 0, drawn.stderr[-3000:])
        samples = np.load(grid)
        self.assertEqual(samples.shape, (14, 16, 16, 3))
        self.assertTrue(os.path.getsize(os.path.join(out, "drawn.png")) > 0)


class TrainSpritesErrorsTest(tf.test.TestCase):
    def assert_one_line_error(self, result, pattern):
        self.assertEqual(result.returncode, 2, result.stderr)
        lines = result.stderr.strip().splitlines()
        self.assertLen(lines, 1, result.stderr)
        self.assertRegex(lines[0], pattern)
        self.assertNotIn("Traceback", result.stderr)

    def test_missing_folder(self):
        result = run_script("train_sprites.py", "--data-dir", "/nonexistent/sprites", "--out", tempfile.mkdtemp())
        self.assert_one_line_error(result, "train_sprites.py: error: sprite data folder not found: /nonexistent")

    def test_bad_file_and_bad_flags(self):
        folder = tempfile.mkdtemp()
        np.save(os.path.join(folder, "a.npy"), np.zeros((4, 16, 16, 3), np.float32))
        np.save(os.path.join(folder, "b.npy"), np.eye(2)[[0, 1, 0, 1]])
        result = run_script("train_sprites.py", "--data-dir", folder, "--images", "a.npy", "--labels", "b.npy",
                            "--tfds-dir", os.path.join(folder, "tfds"), "--out", os.path.join(folder, "out"))
        self.assert_one_line_error(result, "images must be uint8")

    def test_bad_flags(self):
        for argv, pattern in (
            (["--timesteps", "20", "--ddim-steps", "50"], "--ddim-steps must be at most --timesteps"),
            (["--preset", "gpu"], "invalid choice: 'gpu'"),
            (["--class-dropout", "1"], r"--class-dropout must be in \[0, 1\)"),
            (["--eta", "2"], r"--eta must be in \[0, 1\]"),
            # Used only after training, so checked before it:
            (["--evaluate", "--eval-ddim-steps", "abc"], "--eval-ddim-steps: DDIM steps must be comma-separated"),
            (["--evaluate", "--eval-ddim-steps", "10,900"], r"--eval-ddim-steps: DDIM steps must be integers in 1..500"),
            (["--evaluate", "--inception-weights", "/nonexistent/inception.h5"], "--inception-weights: no such file"),
            (["--guidance-scale", "nan"], "--guidance-scale must be a finite number"),
            (["--attention-levels", "1,x"], "--attention-levels: expected comma-separated level numbers"),
            (["--attention-levels", "3"], r"--attention-levels: the sprite UNet has levels 0..2"),
            (["--validation-fraction", "0.6"], r"--validation-fraction: expected a number in \[0, 0.5\)"),
        ):
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit_:
                train_sprites.parse_args(argv)
            self.assertEqual(exit_.exception.code, 2)
            self.assertLen(stderr.getvalue().strip().splitlines(), 1)
            self.assertRegex(stderr.getvalue(), pattern)

    def test_evaluation_of_a_damaged_or_wrong_model_is_one_line(self):
        from keras_ddpm import DenoisingMLP, DiffusionModel, NoiseSchedule
        from keras_ddpm.apps.sprites import evaluation
        from keras_ddpm.utils.cli import run_cli

        folder = tempfile.mkdtemp()
        bicycle = DiffusionModel(DenoisingMLP(hidden_units=(8,), embedding_units=8), NoiseSchedule("linear", 10))
        bicycle.build((None, 2))
        bicycle.save(os.path.join(folder, "bicycle.keras"))
        with open(os.path.join(folder, "bicycle.keras"), "rb") as handle:
            head = handle.read(200)
        with open(os.path.join(folder, "truncated.keras"), "wb") as handle:
            handle.write(head)
        for name, pattern in (("truncated.keras", "truncated.keras is truncated or not a .keras file"),
                              ("bicycle.keras", r"is a bicycle/point model \(DenoisingMLP on 2-D points\), not a sprite UNet")):
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr):
                code = run_cli(evaluation.main, ["--model", os.path.join(folder, name), "--data-dir", SPRITES,
                                                 "--out", os.path.join(folder, "eval")], prog="evaluation")
            self.assertEqual(code, 2, stderr.getvalue())
            self.assertLen(stderr.getvalue().strip().splitlines(), 1, stderr.getvalue())
            self.assertRegex(stderr.getvalue(), pattern)

    def test_presets_fill_unset_flags_only(self):
        args = train_sprites.parse_args(["--preset", "cpu", "--epochs", "3"])
        self.assertEqual(args.epochs, 3)
        self.assertEqual(args.base_features, PRESETS["cpu"].base_features)
        self.assertEqual((args.schedule, train_sprites.parse_args([]).schedule), ("cosine", "linear"))
        course = train_sprites.parse_args([])
        self.assertEqual((course.epochs, course.batch_size, course.lr, course.base_features, course.timesteps),
                         (32, 100, 1e-3, 64, 500))
        self.assertEqual(course.lr_decay, "linear")
        self.assertEqual((course.prediction, course.min_snr_gamma), ("epsilon", None))  # the course's eps loss
        self.assertEqual(args.prediction, "v")
        self.assertIsNone(train_sprites.parse_args(["--preset", "cpu", "--min-snr-gamma", "none"]).min_snr_gamma)
        self.assertEqual(train_sprites.parse_args(["--min-snr-gamma", "5"]).min_snr_gamma, 5.0)
        self.assertEqual((args.attention_levels, course.attention_levels), ((), ()))
        self.assertEqual(train_sprites.parse_args(["--attention-levels", "2,1"]).attention_levels, (1, 2))
        self.assertEqual(train_sprites.parse_args(["--attention-levels", "none"]).attention_levels, ())
        self.assertEqual(course.out, os.path.join("outputs", "sprites_course"))
