"""End-to-end runs of train_bicycle.py in a subprocess, as a user would run it."""

import contextlib
import io
import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf
from helpers import BICYCLE, run_script

import train_bicycle  # the top-level script
from keras_ddpm.utils.cli import run_cli

EXPECTED_FILES = [
    "data.png",
    "schedules.png",
    "forward_process.png",
    "loss.csv",
    "loss.png",
    "checkpoints/checkpoints.csv",
    "checkpoints/epoch_0001.keras",
    "checkpoints/epoch_0002.keras",
    "samples/samples_epoch_0001.png",
    "samples/samples_epoch_0002.png",
    "model.keras",
    "samples.npy",
    "samples_vs_data.png",
    "reverse_process.gif",
    "validation.npy",
    "real_reference.npy",
    "partial_diffusion.png",
    "study/study.csv",
    "study/study.png",
    "study/study_samples.png",
    "study/study_timestep_loss.png",
    "summary.json",
    "REPORT.md",
]


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def small_run(out, saved, *extra):
    return run_script(
        "train_bicycle.py", "--data", BICYCLE, "--out", out, "--preset", "assignment", "--subset", "640",
        "--epochs", "2", "--study-samples", "100", *extra,
        "--timesteps", "100", "--checkpoint-every", "1", "--plot-every", "1", "--plot-samples", "100",
        "--num-samples", "300", "--gif-frames", "6", "--steps-per-execution", "5", "--save-model", saved,
        "--seed", "3",
    )


class TrainBicycleEndToEndTest(tf.test.TestCase):
    def test_small_run_writes_every_file_and_is_reproducible(self):
        out = tempfile.mkdtemp()
        saved = os.path.join(out, "saved", "bicycle.keras")
        result = small_run(out, saved)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        for name in EXPECTED_FILES:
            path = os.path.join(out, name)
            self.assertTrue(os.path.isfile(path) and os.path.getsize(path) > 0, f"missing {name}")
        self.assertTrue(os.path.isfile(saved))
        self.assertEqual(np.load(os.path.join(out, "samples.npy")).shape, (300, 2))
        self.assertIn("shape check (untrained): x_t (64, 2) + t (64,) -> eps (64, 2); 56,962 parameters", result.stdout)
        with open(os.path.join(out, "summary.json")) as handle:
            summary = json.load(handle)
        self.assertEqual((summary["preset"], summary["network_class"]), ("assignment", "DenoisingMLP"))
        self.assertEqual(summary["data"]["num_validation"], 5047)  # 10% of the 50,468 points, never trained on
        self.assertEqual([row["epoch"] for row in summary["study"]["rows"]], [1, 2])
        self.assertEqual(sorted(summary["partial_diffusion"]), ["100", "50"])  # t0 <= T = 100
        for key in ("sliced_w1", "sliced_w1_floor", "precision", "recall_floor", "mmd"):
            self.assertTrue(np.isfinite(summary["metrics"][key]), key)
        with open(os.path.join(out, "REPORT.md")) as handle:
            report = handle.read()
        for section in ("## 1. Data", "## 2. Noise schedules", "## 3. Forward process", "## 4. Model",
                        "## 5. Training and loss", "## 6. Sampling", "## 7. Checkpoint comparison",
                        "## 8. Partial diffusion", "DDPMSampler", "q_sample", "](study/study.png)"):
            self.assertIn(section, report)
        events = [f for _, _, files in os.walk(os.path.join(out, "tensorboard")) for f in files if "tfevents" in f]
        self.assertNotEmpty(events)
        self.assertFalse(os.path.exists(os.path.join(out, "backup")), "backup removed after a finished run")
        with open(os.path.join(out, "loss.csv")) as handle:
            self.assertLen(handle.read().strip().splitlines(), 3)  # header + 2 epochs
        leftovers = [f for _, _, files in os.walk(out) for f in files if ".tmp" in f]
        self.assertEmpty(leftovers)
        mode = os.stat(os.path.join(out, "samples.npy")).st_mode & 0o777
        self.assertEqual(mode, 0o666 & ~current_umask(), "atomic writes keep the usual permissions")
        # The same seed gives the same training and the same samples, up to float round-off: the
        # multithreaded CPU kernels leave ~1e-8 differences in the trained weights (measured).
        # (The study and TensorBoard run after the final samples: skip them here, they change nothing.)
        again = tempfile.mkdtemp()
        self.assertEqual(small_run(again, "none", "--study-samples", "0", "--no-tensorboard").returncode, 0)
        self.assertAllClose(
            np.load(os.path.join(again, "samples.npy")), np.load(os.path.join(out, "samples.npy")), atol=1e-4, rtol=0
        )
        shutil.rmtree(out)
        shutil.rmtree(again)


class TrainBicycleBadInputTest(tf.test.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def data_file(self, text):
        path = tempfile.mkstemp(suffix=".txt", dir=self.tmp)[1]
        with open(path, "w") as handle:
            handle.write(text)
        return path

    def assert_clean_failure(self, args, message):
        """The script's own entry point (`run_cli(main)`, as ``__main__`` runs it) in this process:
        every case fails before training, so a subprocess per case would only add start-up time
        (the end-to-end and ``--out`` tests below run the real command line)."""
        stderr = io.StringIO()
        argv = ["--out", os.path.join(self.tmp, "out"), "--save-model", "none", *args]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
            try:
                code = run_cli(train_bicycle.main, argv, prog="train_bicycle.py")
            except SystemExit as exit_:  # argparse's errors exit from parse_args, as on the command line
                code = exit_.code
        self.assertEqual(code, 2, stderr.getvalue()[-2000:])
        lines = stderr.getvalue().strip().splitlines()
        self.assertLen(lines, 1, stderr.getvalue())
        self.assertNotIn("Traceback", stderr.getvalue())
        self.assertRegex(lines[0], message)

    def test_bad_data_files(self):
        cases = [
            (os.path.join(self.tmp, "missing.txt"), "data file not found"),
            (self.data_file("0.1 0.2\n0.5\n"), "line 2: expected 2 numbers, found 1"),
            (self.data_file("0.1 0.2 0.3\n"), "line 1: expected 2 numbers, found 3"),
            (self.data_file("x y\n"), "line 1: not a number"),
            (self.data_file("0.1 NaN\n"), "line 1: values must be finite"),
            (self.data_file(""), "no data points"),
        ]
        for path, message in cases:
            self.assert_clean_failure(["--data", path], message)

    def test_bad_flags(self):
        good = self.data_file("0.1 0.2\n" * 100)
        self.assert_clean_failure(["--data", good, "--schedule", "quadratic"], "invalid choice: 'quadratic'")
        self.assert_clean_failure(["--data", good, "--timesteps", "1"], "timesteps must be an integer >= 2")
        self.assert_clean_failure(["--data", good, "--epochs", "-3"], "--epochs: expected an integer >= 1")
        self.assert_clean_failure(["--data", good, "--lr", "0"], "--lr: expected a finite number > 0")
        self.assert_clean_failure(["--data", good, "--preset", "huge"], "--preset: invalid choice: 'huge'")
        self.assert_clean_failure(["--data", good, "--validation-fraction", "0.7"],
                                  r"--validation-fraction: expected a number in \[0, 0.5\)")
        self.assert_clean_failure(["--data", good, "--compare-with", os.path.join(self.tmp, "none")],
                                  "no run summary at")
        self.assert_clean_failure(["--data", good, "--batch-size", "64", "--fused-steps", "2"],
                                  "--fused-steps 2 is more than the 1 minibatches of an epoch")
        self.assert_clean_failure(["--data", good, "--fused-steps", "0"], "--fused-steps: expected an integer >= 1")
        self.assert_clean_failure(["--data", good, "--small-t-fraction", "1"], r"small_t_fraction must be in \[0, 1\)")
        self.assert_clean_failure(["--data", good, "--timesteps", "10", "--small-t-fraction", "0.2", "--small-t-steps",
                                   "20"], r"small_t_steps must be an integer in 1..10 \(T\)")
        self.assert_clean_failure(["--data", good, "--fused-steps", "2", "--strategy", "mirrored"],
                                  "--fused-steps 2 needs --strategy default")

    def test_outputs_that_would_replace_a_users_files_are_refused_before_training(self):
        good = self.data_file("0.1 0.2\n" * 100)
        folder = os.path.join(self.tmp, "models")
        os.makedirs(folder)
        with open(os.path.join(folder, "mine.txt"), "w") as handle:
            handle.write("a user's file")
        self.assert_clean_failure(["--data", good, "--save-model", os.path.join(folder, "bicycle.keras"),
                                   "--export", folder], "not a keras-ddpm export .mine.txt.")
        self.assertEqual(os.listdir(folder), ["mine.txt"])
        empty = os.path.join(self.tmp, "empty")
        self.assert_clean_failure(["--data", good, "--save-model", os.path.join(empty, "bicycle.keras"),
                                   "--export", empty], "lies inside the --export folder")
        self.assert_clean_failure(["--data", good, "--save-model", os.path.join(self.tmp, "bicycle")],
                                  "--save-model must name a .keras file")
        os.makedirs(folder + ".keras")
        self.assert_clean_failure(["--data", good, "--save-model", folder + ".keras", "--export", "none"],
                                  "is an existing folder")
        with open(os.path.join(self.tmp, "a_file"), "w") as handle:
            handle.write("x")
        result = run_script("train_bicycle.py", "--data", good, "--out", os.path.join(self.tmp, "a_file"),
                            "--save-model", "none")
        self.assertEqual(result.returncode, 2, result.stderr[-2000:])
        self.assertIn("is an existing file, not a folder", result.stderr)
