import os
import tempfile

import keras
import numpy as np
import tensorflow as tf
from helpers import BICYCLE

from keras_ddpm.data import load_points, make_dataset
from keras_ddpm.networks import DenoisingMLP
from keras_ddpm.process import rng
from keras_ddpm.process.forward import q_sample
from keras_ddpm.process.schedules import NoiseSchedule
from keras_ddpm.process.timesteps import SmallTimestepMixture, UniformTimesteps
from keras_ddpm.training.diffusion_model import DiffusionModel


def fixed_eval_loss(model, x0, seed=123):
    """The eq. 14 loss on fixed (x0, t, eps): comparable before and after training."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, model.schedule.timesteps, len(x0))
    eps = rng.standard_normal(x0.shape).astype(np.float32)
    pred = model.network([q_sample(model.schedule, x0, t, eps), t])
    return float(np.mean((np.asarray(pred) - eps) ** 2))


class DiffusionModelTest(tf.test.TestCase):
    def setUp(self):
        keras.utils.set_random_seed(0)
        points = load_points(BICYCLE)
        self.points = points[np.random.default_rng(0).permutation(len(points))]

    def make_model(self, **optimizer_kwargs):
        model = DiffusionModel(DenoisingMLP(), NoiseSchedule("linear", 1000), seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3, **optimizer_kwargs), steps_per_execution=50)
        model.build((None, 2))
        return model

    def test_default_optimizer_is_the_assignments_adam(self):
        model = DiffusionModel(DenoisingMLP())
        model.compile()
        self.assertIsInstance(model.optimizer, keras.optimizers.Adam)
        self.assertAllClose(float(model.optimizer.learning_rate), 1e-4)

    def test_a_few_hundred_steps_on_the_real_data_lower_the_loss(self):
        model = self.make_model()
        held_out = self.points[:4096]
        before = fixed_eval_loss(model, held_out)
        history = model.fit(make_dataset(self.points[4096:], 64, seed=0).take(400), epochs=1, verbose=0)
        after = fixed_eval_loss(model, held_out)
        self.assertLess(after, 0.6 * before, f"loss {before:.3f} -> {after:.3f}")
        self.assertLess(history.history["loss"][-1], 0.6)
        self.assertAllClose(model.evaluate(held_out, batch_size=512, verbose=0), after, atol=0.1)

    def test_train_step_accepts_labelled_batches(self):
        model = self.make_model()
        data = tf.data.Dataset.from_tensor_slices((self.points[:640], np.zeros(640))).batch(64)
        history = model.fit(data, epochs=1, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][-1]))

    def test_fused_steps_make_the_same_updates_as_single_steps(self):
        points = self.points[:64 * 25]

        def train(fused_steps, jit_compile):
            keras.utils.set_random_seed(0)
            model = DiffusionModel(DenoisingMLP(), NoiseSchedule(), seed=3, fused_steps=fused_steps)
            # epsilon 1e-3: Adam divides by sqrt(v) + epsilon, and with the default 1e-7 it blows the
            # round-off of multithreaded CPU sums in near-zero gradients up to lr-sized differences.
            model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-3), jit_compile=jit_compile)
            model.build((None, 2))
            history = model.fit(make_dataset(points, 64, shuffle=False, fused_steps=fused_steps), epochs=2, verbose=0)
            return model, history.history["loss"]

        for jit_compile in (False, True):  # XLA draws other random numbers: compare like with like
            single, single_loss = train(1, jit_compile)
            fused, fused_loss = train(5, jit_compile)  # 25 minibatches per epoch: 5 stacks of 5
            self.assertEqual(int(fused.optimizer.iterations), 50)
            for a, b in zip(single.network.weights, fused.network.weights):
                self.assertAllClose(a, b, atol=1e-5)
            self.assertAllClose(single_loss, fused_loss, rtol=1e-4)  # the mean over all minibatches
        self.assertEqual(keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(fused)).fused_steps, 5)

    def test_fused_steps_errors(self):
        with self.assertRaisesRegex(ValueError, "fused_steps must be an integer >= 1, got 0"):
            DiffusionModel(DenoisingMLP(), fused_steps=0)
        model = DiffusionModel(DenoisingMLP(), seed=0, fused_steps=4)
        model.compile()
        model.build((None, 2))
        with self.assertRaisesRegex(ValueError, "stack of minibatches"):
            model.fit(make_dataset(self.points[:640], 64), epochs=1, verbose=0)
        loss = model.evaluate(make_dataset(self.points[:640], 64, fused_steps=4), verbose=0)
        self.assertTrue(np.isfinite(loss))

    def test_small_t_fraction_draws_the_documented_mixture(self):
        T, S, f, n = 1000, 20, 0.3, 200_000
        mixed = DiffusionModel(DenoisingMLP(), NoiseSchedule("linear", T), seed=0,
                               timestep_distribution=SmallTimestepMixture(f, S))
        t = np.asarray(mixed.sample_timesteps(n))
        self.assertEqual((t.min(), t.max()), (0, T - 1))
        # p(t) = (1 - f)/T + f/S [t < S]: the share below S, and flat inside and outside [0, S).
        below = np.mean(t < S)
        expected = f + (1 - f) * S / T
        self.assertAllClose(below, expected, atol=4 * np.sqrt(expected * (1 - expected) / n))
        counts_small = np.bincount(t[t < S], minlength=S)
        self.assertLess(counts_small.std() / counts_small.mean(), 0.05)
        self.assertAllClose(np.mean(t[t >= S]), (S + T - 1) / 2, rtol=0.01)
        # The default is Algorithm 1: uniform over all T, one draw of the generator per call.
        plain = DiffusionModel(DenoisingMLP(), NoiseSchedule("linear", T), seed=0)
        u = np.asarray(plain.sample_timesteps(n))
        self.assertAllClose(np.mean(u < S), S / T, atol=4 * np.sqrt(S / T / n))
        self.assertAllEqual(u[:100], np.asarray(rng.randint((n,), 0, T, keras.random.SeedGenerator(0)))[:100])
        self.assertAllClose(np.bincount(t, minlength=T) / n, SmallTimestepMixture(f, S).probabilities(T),
                            atol=4 * np.sqrt((f / S) / n))
        self.assertAllClose(UniformTimesteps().probabilities(T), np.full(T, 1 / T))
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(mixed))
        self.assertEqual(restored.timestep_distribution, SmallTimestepMixture(f, S))
        self.assertEqual(keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(plain))
                         .timestep_distribution, UniformTimesteps())
        # A model saved before the distribution was an object (flat small_t_* keys) loads the same.
        old = dict(mixed.get_config())
        del old["timestep_distribution"]
        old.update(small_t_fraction=f, small_t_steps=S)
        self.assertEqual(DiffusionModel.from_config(old).timestep_distribution, SmallTimestepMixture(f, S))

    def test_small_t_errors(self):
        with self.assertRaisesRegex(ValueError, "small_t_fraction must be in"):
            DiffusionModel(DenoisingMLP(), timestep_distribution=SmallTimestepMixture(1.0, 10))
        for steps in (0, 1001, 2.5):
            with self.assertRaisesRegex(ValueError, "small_t_steps must be an integer in 1..1000"):
                DiffusionModel(DenoisingMLP(), timestep_distribution=SmallTimestepMixture(0.2, steps))
        with self.assertRaisesRegex(ValueError, "must be a TimestepDistribution"):
            DiffusionModel(DenoisingMLP(), timestep_distribution="uniform")

    def test_ema_uses_keras_optimizer_option(self):
        model = self.make_model(use_ema=True, ema_momentum=0.9)
        model.fit(make_dataset(self.points, 64, seed=0).take(100), epochs=1, verbose=0)
        ema = model.optimizer._model_variables_moving_average
        self.assertLen(ema, len(model.network.trainable_variables))
        # After fit, Keras copies the averaged weights into the model.
        for average, variable in zip(ema, model.network.trainable_variables):
            self.assertAllClose(average, variable)

    def test_keras_round_trip_with_optimizer_state(self):
        model = self.make_model()
        model.fit(make_dataset(self.points, 64, seed=0).take(50), epochs=1, verbose=0)
        x = self.points[:16]
        t = np.arange(16) * 60
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            loaded = keras.saving.load_model(path)
        self.assertIsInstance(loaded, DiffusionModel)
        self.assertEqual(loaded.schedule.get_config(), model.schedule.get_config())
        self.assertAllEqual(loaded([x, t]), model([x, t]))
        self.assertEqual(int(loaded.optimizer.iterations), 50)
        # and it keeps training
        loaded.fit(make_dataset(self.points, 64, seed=0).take(10), epochs=1, verbose=0)
        self.assertEqual(int(loaded.optimizer.iterations), 60)


class PerExampleLossTest(tf.test.TestCase):
    def test_embedding_table_path_is_the_same_function(self):
        # Batches larger than T embed each timestep once and gather rows; the loss must not change.
        keras.utils.set_random_seed(1)
        schedule = NoiseSchedule("linear", 50)
        model = DiffusionModel(DenoisingMLP(), schedule)
        model.build((None, 2))
        rng = np.random.default_rng(0)
        x0 = rng.uniform(-1, 1, (300, 2)).astype(np.float32)
        t = rng.integers(0, 50, 300).astype(np.int32)
        eps = rng.standard_normal((300, 2)).astype(np.float32)
        self.assertTrue(model._embeds_through_table(tf.constant(x0)))
        via_table = model.per_example_loss(x0, t, eps)
        direct = np.mean((np.asarray(model.network([q_sample(schedule, x0, t, eps), t])) - eps) ** 2, axis=1)
        self.assertAllClose(via_table, direct, atol=1e-5)
        # Gradients agree too (they flow through the gathered rows into the embedding MLP).
        variables = model.network.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            a = tf.reduce_mean(model.per_example_loss(x0, t, eps))
            b = tf.reduce_mean((model.network([q_sample(schedule, x0, t, eps), t]) - eps) ** 2)
        for ga, gb in zip(tape.gradient(a, variables), tape.gradient(b, variables)):
            self.assertAllClose(ga, gb, atol=1e-5)
        self.assertFalse(model._embeds_through_table(tf.constant(x0[:50])))
