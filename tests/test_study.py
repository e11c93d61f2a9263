"""The checkpoint study, the validation loss per timestep bin, TensorBoard logs and the report, on a tiny run."""

import contextlib
import csv
import glob
import io
import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf
from helpers import BICYCLE, run_script

from keras_ddpm import DDPMSampler, DiffusionModel, NoiseSchedule
from keras_ddpm.apps.bicycle.study import answer, run_study
from keras_ddpm.data import load_points, make_dataset, split_points
from keras_ddpm.networks.residual_mlp import ResidualMLP
from keras_ddpm.training.callbacks import (
    SamplePlotter,
    TimestepLossEvaluator,
    bin_edges,
    timestep_bins,
)
from keras_ddpm.training.loop import TrainConfig, compile_model, train

T = 50


def tiny_run(out):
    points = load_points(BICYCLE)
    train_points, validation = split_points(points, 0.02, seed=0)
    train_points = train_points[:512]
    schedule = NoiseSchedule("linear", T)
    model = DiffusionModel(ResidualMLP(width=16, num_blocks=1, fourier_frequencies=4), schedule, seed=0)
    config = TrainConfig(epochs=2, learning_rate=1e-3, checkpoint_every=1, plot_every=2, steps_per_execution=4,
                         verbose=0)
    compile_model(model, config, (2,))
    sampler = DDPMSampler(schedule)
    drawn = []
    plotter = SamplePlotter(sampler, 50, os.path.join(out, "samples"), 2, data_shape=(2,),
                            draw=lambda samples, path, title: drawn.append((samples.shape, title)) or
                            __import__("keras_ddpm.utils.plots", fromlist=["scatter"]).scatter(samples, path, title),
                            tensorboard_dir=os.path.join(out, "tb", "samples"))
    train(model, make_dataset(train_points, 64), out, config, extra_callbacks=[plotter],
          validation_points=validation, validation_bins=5, tensorboard_dir=os.path.join(out, "tb"))
    return model, validation, train_points, drawn


class StudyTest(tf.test.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.mkdtemp()
        cls.model, cls.validation, cls.real, cls.drawn = tiny_run(cls.out)

    def test_validation_loss_per_bin_is_logged(self):
        with open(os.path.join(self.out, "loss.csv")) as handle:
            rows = list(csv.DictReader(handle))
        self.assertLen(rows, 2)
        bins = timestep_bins(rows[0])
        self.assertEqual([(lo, hi) for _, lo, hi in bins], [(0, 9), (10, 19), (20, 29), (30, 39), (40, 49)])
        for row in rows:
            # Every bin holds (nearly) the same number of (point, t) pairs: the overall loss is about their mean.
            self.assertAllClose(float(row["val_loss"]), np.mean([float(row[name]) for name, _, _ in bins]), rtol=2e-3)
        with open(os.path.join(self.out, "checkpoints", "checkpoints.csv")) as handle:
            self.assertIn("val_loss_t000_009", handle.readline())

    def test_evaluator_is_deterministic_and_matches_per_example_loss(self):
        evaluator = TimestepLossEvaluator(self.validation[:100], T, num_bins=5, repeats=3, batch_size=64)
        first, second = evaluator(self.model), evaluator(self.model)
        self.assertEqual(first, second)
        direct = self.model.per_example_loss(evaluator.x0, evaluator.t, evaluator.noise)
        self.assertAllClose(first["val_loss"], np.mean(direct), rtol=1e-5)
        self.assertEqual(np.bincount(evaluator.t).tolist(), [6] * T)  # every t equally often
        self.assertAllEqual(bin_edges(10, 3), [0, 3, 7, 10])
        with self.assertRaisesRegex(ValueError, "num_bins must be an integer in 1..50"):
            TimestepLossEvaluator(self.validation, T, num_bins=51)

    def test_tensorboard_scalars_and_sample_images(self):
        self.assertEqual(self.drawn, [((50, 2), "epoch 2, loss " + self.drawn[0][1].split("loss ")[1])])
        steps = {}
        for path in glob.glob(os.path.join(self.out, "tb", "**", "events.out.tfevents.*"), recursive=True):
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    steps.setdefault(value.tag, set()).add(event.step)
        self.assertIn("epoch_loss_t000_009", steps)  # val_loss_t000_009, in the validation writer
        # The picture of epoch 2 sits at the step of epoch 2's scalars (Keras counts epochs from 0).
        self.assertEqual(steps["epoch_loss"], {0, 1})
        self.assertEqual(steps["samples"], {1})

    def test_study_writes_its_csv_and_figures(self):
        result = run_study(self.out, num_samples=60, validation=self.validation, real=self.real, log=None)
        folder = os.path.join(self.out, "study")
        for name in ("study.csv", "study.png", "study_samples.png", "study_timestep_loss.png", "answer.json"):
            self.assertGreater(os.path.getsize(os.path.join(folder, name)), 0, name)
        with open(os.path.join(folder, "study.csv")) as handle:
            rows = list(csv.DictReader(handle))
        self.assertEqual([int(r["epoch"]) for r in rows], [1, 2])
        for key in ("loss", "val_loss", "sliced_w1", "sliced_w1_floor", "precision", "recall", "mmd"):
            self.assertTrue(all(np.isfinite(float(r[key])) for r in rows), key)
        self.assertIn("validation loss changed by", result["answer"]["text"])
        # Two checkpoints of two epochs answer nothing, and the text says why.
        self.assertFalse(result["answer"]["answered"])
        self.assertIn("This run is too short to answer the question: it has 2 checkpoints, and a rank correlation "
                      "needs 5.", result["answer"]["text"])
        self.assertNotIn("proportional to the loss", result["answer"]["text"])
        with open(os.path.join(folder, "answer.json")) as handle:
            self.assertIn("correlation", json.load(handle))

    def test_a_truncated_checkpoint_is_skipped_and_named(self):
        out = os.path.join(tempfile.mkdtemp(), "run")
        shutil.copytree(self.out, out)
        damaged = os.path.join(out, "checkpoints", "epoch_0001.keras")
        with open(damaged, "r+b") as handle:
            handle.truncate(os.path.getsize(damaged) // 2)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rows = run_study(out, num_samples=60, validation=self.validation, real=self.real, log=None)["rows"]
        self.assertEqual([row["epoch"] for row in rows], [2])
        self.assertIn(f"skipping a damaged checkpoint: checkpoint {damaged} is truncated", err.getvalue())
        with open(damaged, "wb"):
            pass
        os.remove(os.path.join(out, "checkpoints", "epoch_0002.keras"))
        shutil.copy(damaged, os.path.join(out, "checkpoints", "epoch_0002.keras"))
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaisesRegex(ValueError, "no sound checkpoint"):
            run_study(out, num_samples=60, validation=self.validation, real=self.real, log=None)

    @staticmethod
    def _rows(val_losses, w1s):
        return [{"epoch": 10 * (i + 1), "val_loss": val, "val_loss_t000_099": val * 2, "val_loss_t900_999": val / 2,
                 "sliced_w1": w1, "sliced_w1_floor": 0.01, "mmd": 0.0, "mmd_floor": 0.0,
                 "precision": 0.9, "precision_floor": 0.98, "recall": 0.9, "recall_floor": 0.98}
                for i, (val, w1) in enumerate(zip(val_losses, w1s))]

    def test_answer_says_not_proportional_when_metrics_move_much_more(self):
        val = [0.170, 0.169, 0.168, 0.1675, 0.167, 0.1665]
        result = answer(self._rows(val, [0.05, 0.04, 0.03, 0.025, 0.02, 0.017]))
        self.assertTrue(result["answered"])
        self.assertIn("**not** proportional", result["text"])
        self.assertAllClose(result["val_loss_change"], (0.1665 - 0.170) / 0.170)
        self.assertAllClose(result["correlation"]["sliced_w1"], 1.0)
        self.assertLess(result["p_value"]["sliced_w1"], 0.01)
        self.assertGreater(result["elasticity"], 20)
        self.assertIn("Criterion: The study answers only with at least 5 checkpoints", result["text"])

    def test_answer_says_proportional_when_quality_follows_the_loss(self):
        val = np.array([0.30, 0.28, 0.26, 0.25, 0.24, 0.23])
        result = answer(self._rows(val, 0.01 + 0.2 * val))  # the excess over the 0.01 floor is 0.2 x loss
        self.assertTrue(result["answered"])
        self.assertAllClose(result["elasticity"], 1.0)
        self.assertIn("changed about in proportion to the loss", result["text"])

    def test_no_answer_without_a_significant_relation_or_enough_checkpoints(self):
        val = [0.170, 0.169, 0.168, 0.1675, 0.167, 0.1665]
        unrelated = answer(self._rows(val, [0.03, 0.05, 0.02, 0.04, 0.05, 0.03]))
        self.assertFalse(unrelated["answered"])
        self.assertIsNone(unrelated["proportional"])
        self.assertIn("too short to answer the question: over its 6 checkpoints the loss and the sample quality show "
                      "no significant relation (the Spearman rank correlation", unrelated["text"])
        self.assertNotIn("**not**", unrelated["text"])
        few = answer(self._rows(val[:4], [0.05, 0.04, 0.03, 0.025]))
        self.assertIn("it has 4 checkpoints, and a rank correlation needs 5", few["text"])

    def test_cli_reports_a_missing_folder_in_one_line(self):
        result = run_script("-m", "keras_ddpm.apps.bicycle.study", os.path.join(self.out, "nope"))
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stderr.strip(), f"python -m keras_ddpm.apps.bicycle.study: error: run folder not found: "
                                                f"{os.path.join(self.out, 'nope')}")


class TimeLimitTest(tf.test.TestCase):
    def test_stops_after_the_first_epoch_past_the_limit_and_checkpoints_it(self):
        out = tempfile.mkdtemp()
        points = load_points(BICYCLE)[::100]
        model = DiffusionModel(ResidualMLP(width=8, num_blocks=1, fourier_frequencies=2), NoiseSchedule("linear", 10))
        config = TrainConfig(epochs=5, checkpoint_every=4, plot_every=4, steps_per_execution=2, verbose=0)
        compile_model(model, config, (2,))
        history = train(model, make_dataset(points, 64), out, config, time_limit=1e-6)
        self.assertLen(history.history["loss"], 1)
        self.assertEqual(sorted(os.listdir(os.path.join(out, "checkpoints"))), ["checkpoints.csv", "epoch_0001.keras"])
        with self.assertRaisesRegex(ValueError, "time limit must be > 0"):
            train(model, make_dataset(points, 64), out, config, time_limit=0.0)


class DurationEstimateTest(tf.test.TestCase):
    @staticmethod
    def run_epochs(callback, planned, run, seconds):
        import time

        callback.set_params({"epochs": planned})
        callback.on_train_begin()
        for epoch in range(run):
            callback.on_epoch_begin(epoch)
            time.sleep(seconds)
            callback.on_epoch_end(epoch)

    def test_predicts_the_remaining_epochs_from_a_timed_one(self):
        from keras_ddpm.training.callbacks import DurationEstimate

        lines = []
        estimate = DurationEstimate(after_training_seconds=30.0, extra_training_seconds=5.0, print_fn=lines.append)
        self.run_epochs(estimate, planned=10, run=3, seconds=0.05)
        self.assertLen(lines, 1)  # once, when the second epoch has ended
        self.assertIn("10 epochs", lines[0])
        # about 2 timed epochs + 8 more at the second one's speed + the extra 5 s, then 30 s more
        self.assertBetween(estimate.estimate["training_s"], 5.0 + 10 * 0.05, 5.0 + 10 * 0.5)
        self.assertAllClose(estimate.estimate["total_s"] - estimate.estimate["training_s"], 30.0)
        capped = DurationEstimate(time_limit=0.01, print_fn=lines.append)
        self.run_epochs(capped, planned=1000, run=3, seconds=0.02)
        self.assertLess(capped.estimate["training_s"], 1.0)  # the time limit, not 1000 epochs
        self.assertIn("at most", lines[-1])
        self.assertIn("of the 1000 planned epochs", lines[-2])  # and what would fit instead

    def test_a_sampler_times_one_step(self):
        sampler = DDPMSampler(NoiseSchedule("linear", 20))
        network = ResidualMLP(width=8, num_blocks=1, fourier_frequencies=2)
        seconds = sampler.seconds_per_step(network, (16, 2))
        self.assertGreater(seconds, 0.0)
        self.assertLess(seconds, 5.0)


class AnswerCounterExampleTest(tf.test.TestCase):
    def test_names_a_lower_loss_with_worse_samples(self):
        def row(epoch, val, w1):
            return {"epoch": epoch, "val_loss": val, "sliced_w1": w1, "sliced_w1_floor": 0.01, "mmd": 0.0,
                    "mmd_floor": 0.0, "precision": 0.9, "precision_floor": 0.98, "recall": 0.9, "recall_floor": 0.98}

        result = answer([row(50, 0.172, 0.03), row(100, 0.171, 0.05), row(150, 0.168, 0.02)])
        self.assertEqual(result["counter_example"], [50, 100])
        self.assertIn("epoch 100 has a lower validation loss than epoch 50", result["text"])
        self.assertNotIn("counter_example", answer([row(50, 0.172, 0.05), row(100, 0.171, 0.03)]))


class SamplePlotterProgressTest(tf.test.TestCase):
    def test_the_sampler_progress_follows_fits_verbosity(self):
        asked = []

        class Recorder:
            def sample(self, network, shape, seed, progress):
                asked.append(progress)
                return np.zeros(shape, np.float32)

        folder = tempfile.mkdtemp()
        for verbose, progress in ((0, "auto"), (1, "auto"), (2, "auto"), ("auto", "auto"), (0, 2)):
            plotter = SamplePlotter(Recorder(), 4, folder, draw=lambda *_: None, progress=progress)
            plotter.set_params({"verbose": verbose})
            plotter.picture(None, os.path.join(folder, "x.png"), "title")
        self.assertEqual(asked, [0, 1, 2, 1, 2])


class SpearmanTest(tf.test.TestCase):
    def test_exact_p_values_for_few_checkpoints(self):
        from keras_ddpm.apps.bicycle.study import _spearman

        rho, p = _spearman([1, 2, 3, 4, 5], [2, 3, 4, 5, 9])
        self.assertAllClose((rho, p), (1.0, 2 / 120))  # 2 of the 120 orders are as extreme
        rho, p = _spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
        self.assertAllClose((rho, p), (0.8, 16 / 120))
