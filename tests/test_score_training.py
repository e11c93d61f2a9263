"""Learned scores: the noise-conditional network, DSM training, saving, and the CLI script."""

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ddpm.apps.gmm import (  # noqa: E402
    DenoisingScoreMatching,
    GaussianMixture,
    NoiseConditionalScoreNetwork,
    dsm_loss,
    geometric_sigmas,
    score_error_against_mixture,
    train_dsm,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "train_score_gmm.py"


class NoiseConditionalScoreNetworkTest(tf.test.TestCase):
    def test_tiny_network_training_lowers_the_loss_and_the_score_error(self):
        keras.utils.set_random_seed(0)
        mixture = GaussianMixture.default()
        data = mixture.sample(20000, seed=0)
        sigmas = geometric_sigmas(20.0, 1.0, 5)
        network = NoiseConditionalScoreNetwork(hidden_units=(32, 32), data_std=float(data.std()))
        # A fixed evaluation batch (fixed levels and noise), so before/after losses compare exactly.
        rng = np.random.default_rng(1)
        x = data[rng.integers(0, len(data), 2048)].astype(np.float32)
        sigma = sigmas[rng.integers(0, len(sigmas), 2048)].astype(np.float32)
        noise = (rng.standard_normal(x.shape) * sigma[:, None]).astype(np.float32)

        def loss():
            return float(dsm_loss(network([x + noise, sigma]), noise, sigma, "sigma2"))

        def errors():
            return np.array([
                score_error_against_mixture(lambda p, s=s: network.score(p, s).numpy(), mixture, s,
                                            2000, seed=5)["on_noised_samples"]
                for s in sigmas
            ])

        loss_before, errors_before = loss(), errors()
        _, history = train_dsm(network, data, sigmas, steps=300, batch_size=256, learning_rate=3e-3,
                               seed=0, epochs=3)
        loss_after, errors_after = loss(), errors()
        self.assertLen(history, 3)
        self.assertLess(history[-1], history[0])
        self.assertLess(loss_after, 0.5 * loss_before)  # measured: 0.92 -> 0.32
        self.assertTrue(np.all(errors_after < errors_before), (errors_before, errors_after))
        self.assertLess(errors_after.mean(), 0.5)  # measured: ~0.95 -> ~0.30

    def test_keras_round_trip(self):
        network = NoiseConditionalScoreNetwork(hidden_units=(16, 8), data_std=4.0, activation="tanh",
                                               name="ncsn")
        x = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
        sigma = np.array([1.0, 2.0, 5.0, 10.0, 20.0], np.float32)
        path = os.path.join(self.get_temp_dir(), "ncsn.keras")
        network.save(path)
        loaded = keras.saving.load_model(path)
        self.assertIsInstance(loaded, NoiseConditionalScoreNetwork)
        self.assertEqual(loaded.get_config(), network.get_config())
        self.assertAllClose(loaded([x, sigma]), network([x, sigma]))
        self.assertAllClose(loaded.score(x, 2.0), network([x, np.full(5, 2.0, np.float32)]))

    def test_dsm_wrapper_config_round_trip(self):
        network = NoiseConditionalScoreNetwork(hidden_units=(8,))
        model = DenoisingScoreMatching(network, [3.0, 1.0], weighting="none", seed=4)
        clone = DenoisingScoreMatching.from_config(model.get_config())
        self.assertEqual(clone.sigmas, [3.0, 1.0])
        self.assertEqual(clone.weighting, "none")
        self.assertEqual(clone.score_network.get_config(), network.get_config())

    def test_bad_arguments_raise_clear_errors(self):
        with self.assertRaisesRegex(ValueError, "hidden_units must be an integer >= 1, got 0"):
            NoiseConditionalScoreNetwork(hidden_units=(16, 0))
        with self.assertRaisesRegex(ValueError, "data_std must be a finite number > 0"):
            NoiseConditionalScoreNetwork(data_std=0.0)
        network = NoiseConditionalScoreNetwork(hidden_units=(8,))
        with self.assertRaisesRegex(ValueError, r"sigmas must be finite and > 0, got \[1.0, -3.0\]"):
            DenoisingScoreMatching(network, [1.0, -3.0])
        with self.assertRaisesRegex(ValueError, "weighting must be one of"):
            DenoisingScoreMatching(network, [1.0], weighting="sigma")
        with self.assertRaisesRegex(ValueError, "steps must be an integer >= 1, got 0"):
            train_dsm(network, np.zeros((10, 2)), [1.0], steps=0)


class TrainScoreGmmScriptTest(tf.test.TestCase):
    def _run(self, *flags):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        return subprocess.run([sys.executable, str(SCRIPT), *flags], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)

    def test_tiny_end_to_end_run_writes_figures_and_metrics(self):
        out = Path(self.get_temp_dir()) / "score_gmm"
        result = self._run(
            "--out", str(out), "--train-size", "2000", "--batch-size", "128", "--dsm-sigmas", "1", "3",
            "--dsm-steps", "10", "--ncsn-steps", "10", "--epochs", "2", "--num-levels", "3",
            "--num-samples", "100", "--langevin-steps", "10", "--steps-per-level", "4", "--eval-points", "100",
            "--num-trajectories", "3",
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        for name in ("score_field.png", "dsm_fields.png", "ncsn_fields.png", "trajectories.png", "samples.png",
                     "losses.png"):
            self.assertGreater((out / name).stat().st_size, 10_000, name)
        self.assertIsInstance(keras.saving.load_model(out / "ncsn.keras"), NoiseConditionalScoreNetwork)
        metrics = json.loads((out / "metrics.json").read_text())
        self.assertEqual(sorted(metrics["relative_score_error"]["dsm"]), ["1", "3"])
        self.assertLen(metrics["relative_score_error"]["ncsn"], 3)
        self.assertLen(metrics["ncsn_sigmas"], 3)
        for name in ("langevin_learned_dsm", "langevin_analytic_clean_score", "annealed_langevin_learned_ncsn",
                     "annealed_langevin_analytic_noised_scores", "score_ascent_learned_dsm"):
            stats = metrics["recovered"][name]
            self.assertEqual(stats["num_samples"], 100)
            self.assertAlmostEqual(sum(stats["weights"]), 1.0)
            self.assertLen(stats["means"], 2)
        self.assertIn("annealed_learned_weights_reached", metrics["targets"])

    def test_bad_input_exits_2_with_one_line(self):
        for flags, message in (
            (("--langevin-steps", "0"), "--langevin-steps: expected an integer >= 1, got 0"),
            (("--sigma-min", "30", "--out", self.get_temp_dir()), "--sigma-min must be <= --sigma-max"),
        ):
            with self.subTest(flags=flags):
                result = self._run(*flags)
                self.assertEqual(result.returncode, 2)
                lines = [line for line in result.stderr.splitlines() if line.strip()]
                self.assertLen(lines, 1, result.stderr)
                self.assertIn(message, lines[0])
                self.assertNotIn("Traceback", result.stderr)


if __name__ == "__main__":
    tf.test.main()
