"""v-prediction and min-SNR weighting against their closed forms, in training and sampling."""

import keras
import numpy as np
import tensorflow as tf
from helpers import GaussianEpsOracle
from keras import ops

from keras_ddpm import DDIMSampler, DDPMSampler, DiffusionModel, NoiseSchedule, UNet
from keras_ddpm.process import rng
from keras_ddpm.process.forward import extract, q_sample
from keras_ddpm.process.parameterization import (
    eps_from_prediction,
    min_snr_weights,
    snr,
    training_target,
    x0_from_prediction,
)


class GaussianVOracle(GaussianEpsOracle):
    """The exact v predictor for data x_0 ~ N(mean, std^2 I): v = sqrt(abar) E[eps | x_t] - sqrt(1 - abar) E[x_0 | x_t],
    with E[x_0 | x_t] = mean + sqrt(abar) std^2 (x_t - sqrt(abar) mean) / (abar std^2 + 1 - abar)."""

    def call(self, inputs):
        x_t, t = inputs
        abar = extract(self.schedule.tensor("alphas_cumprod"), t, len(x_t.shape))
        variance = abar * self.std**2 + 1.0 - abar
        x0 = self.mean + ops.sqrt(abar) * self.std**2 * (x_t - ops.sqrt(abar) * self.mean) / variance
        return ops.sqrt(abar) * super().call(inputs) - ops.sqrt(1.0 - abar) * x0


class ConversionsTest(tf.test.TestCase):
    def test_v_eps_x0_round_trip_at_every_t(self):
        for kind in ("linear", "cosine"):
            schedule = NoiseSchedule(kind, 200)
            rng = np.random.default_rng(0)
            x0 = rng.uniform(-1, 1, (200, 4, 4, 3)).astype(np.float32)
            eps = rng.normal(size=x0.shape).astype(np.float32)
            t = np.arange(200, dtype=np.int32)
            x_t = q_sample(schedule, x0, t, eps)
            v = training_target(schedule, "v", x0, t, eps)
            a = schedule.alphas_cumprod[:, None, None, None]
            self.assertAllClose(v, np.sqrt(a) * eps - np.sqrt(1 - a) * x0, atol=1e-6)  # Salimans & Ho, v
            self.assertAllClose(eps_from_prediction(schedule, "v", x_t, t, v), eps, atol=2e-6)
            self.assertAllClose(x0_from_prediction(schedule, "v", x_t, t, v), x0, atol=2e-6)
            self.assertAllEqual(training_target(schedule, "epsilon", x0, t, eps), eps)
            # eq. 15 from eps: exact where alpha-bar is not ~0 (it divides by sqrt(alpha-bar)).
            usable = schedule.alphas_cumprod > 1e-2
            self.assertAllClose(np.asarray(x0_from_prediction(schedule, "epsilon", x_t, t, eps))[usable], x0[usable],
                                atol=1e-4)

    def test_unknown_prediction_is_refused(self):
        with self.assertRaisesRegex(ValueError, "epsilon, v"):
            DiffusionModel(UNet(base_features=8), NoiseSchedule("linear", 10), prediction="x0")
        with self.assertRaisesRegex(ValueError, "epsilon, v"):
            DDPMSampler(NoiseSchedule("linear", 10), prediction="sample")


class MinSnrTest(tf.test.TestCase):
    def test_weights_are_the_papers(self):
        schedule = NoiseSchedule("cosine", 500)
        ratio = schedule.alphas_cumprod / (1 - schedule.alphas_cumprod)
        self.assertAllClose(snr(schedule), ratio)
        eps_w = min_snr_weights(schedule, "epsilon", 5.0)
        v_w = min_snr_weights(schedule, "v", 5.0)
        self.assertAllClose(eps_w, np.minimum(ratio, 5.0) / ratio)
        self.assertAllClose(v_w, np.minimum(ratio, 5.0) / (ratio + 1.0))
        low = ratio <= 5.0
        self.assertAllClose(eps_w[low], np.ones(low.sum()))  # noisy timesteps keep their weight
        self.assertTrue(np.all(eps_w[~low] < 1.0) and np.all(eps_w > 0))
        # As a loss on x0, every timestep is weighted by min(SNR, gamma): eps error = SNR x0 error,
        # v error = (SNR + 1) x0 error.
        self.assertAllClose(eps_w * ratio, np.minimum(ratio, 5.0))
        self.assertAllClose(v_w * (ratio + 1.0), np.minimum(ratio, 5.0))
        with self.assertRaisesRegex(ValueError, "gamma"):
            min_snr_weights(schedule, "v", 0.0)

    def test_the_training_loss_is_the_weighted_mean(self):
        schedule = NoiseSchedule("cosine", 50)
        model = DiffusionModel(UNet(base_features=8, channel_multipliers=(1,)), schedule, seed=3, prediction="v",
                               min_snr_gamma=2.0)
        x0 = tf.constant(np.random.default_rng(1).uniform(-1, 1, (16, 8, 8, 3)), tf.float32)
        state = np.asarray(model.noise_seed.state)
        loss = float(model.diffusion_loss(x0, training=False))
        # The same draws again (t first, then eps, as diffusion_loss takes them), weighted by hand.
        model.noise_seed.state.assign(state)
        t = model.sample_timesteps(16)
        noise = rng.normal(tuple(x0.shape), model.noise_seed, dtype=x0.dtype)
        per_example = np.asarray(model.per_example_loss(x0, t, noise))
        weights = min_snr_weights(schedule, "v", 2.0)[np.asarray(t)]
        self.assertAllClose(loss, np.mean(per_example * weights), rtol=1e-5)
        self.assertNotAllClose(loss, np.mean(per_example))


class VSamplingTest(tf.test.TestCase):
    """A v-predicting network sampled with ``prediction="v"`` takes the same steps as the
    eps-predicting network it is equivalent to."""

    def test_v_and_eps_oracles_give_the_same_samples(self):
        for kind in ("linear", "cosine"):
            schedule = NoiseSchedule(kind, 100)
            eps_net = GaussianEpsOracle(schedule, mean=[0.5, -0.25], std=0.3)
            v_net = GaussianVOracle(schedule, mean=[0.5, -0.25], std=0.3)
            for make in (lambda p: DDPMSampler(schedule, prediction=p),
                         lambda p: DDIMSampler(schedule, num_steps=20, eta=0.0, prediction=p),
                         lambda p: DDIMSampler(schedule, num_steps=20, eta=1.0, clip_x0=(-1, 1), prediction=p)):
                a = make("epsilon").sample(eps_net, (2000, 2), seed=4)
                b = make("v").sample(v_net, (2000, 2), seed=4)
                self.assertAllClose(a, b, atol=2e-3)
        # ... and reproduce the data distribution (the cosine schedule ends at pure noise; the linear one
        # at T = 100 does not, so no sampler started from N(0, I) could).
        b = DDIMSampler(schedule, num_steps=50, prediction="v").sample(v_net, (4000, 2), seed=5)
        self.assertAllClose(b.mean(0), [0.5, -0.25], atol=0.03)
        self.assertAllClose(b.std(0), [0.3, 0.3], atol=0.03)

    def test_a_v_model_saves_loads_and_generates_with_its_prediction(self):
        # (The SavedModel export of a v network: tests/test_export.py.)
        schedule = NoiseSchedule("cosine", 20)
        model = DiffusionModel(UNet(base_features=8, channel_multipliers=(1,), num_classes=2), schedule, seed=0,
                               prediction="v", min_snr_gamma=5.0, class_dropout=0.1)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)  # XLA would only add compile time
        data = tf.data.Dataset.from_tensor_slices(
            (np.random.default_rng(0).uniform(-1, 1, (32, 8, 8, 3)).astype(np.float32), np.arange(32) % 2)).batch(16)
        model.fit(data, epochs=1, verbose=0)
        path = self.get_temp_dir() + "/v.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertEqual((loaded.prediction, loaded.min_snr_gamma), ("v", 5.0))
        self.assertEqual(loaded._sampler("ddim").prediction, "v")
        self.assertAllClose(loaded.generate(3, sampler="ddim", labels=np.array([0, 1, 0])),
                            model.generate(3, sampler="ddim", labels=np.array([0, 1, 0])), atol=1e-5)


if __name__ == "__main__":
    tf.test.main()
