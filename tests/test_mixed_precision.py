"""Mixed precision (`keras_ddpm.layers.apply_precision`, ``--mixed-precision``) on the CPU.

The assignment's network trains 300 Algorithm-1 steps (6 epochs of 50 batches of 128 bicycle
points, Adam 1e-3, T = 100) in float32, mixed_bfloat16 and mixed_float16 from the same initial
weights, data order and draws of t and eps (all float32, whatever the network computes in), so
the runs differ only by the network's rounding. Their epoch-mean losses (each the mean of 50
steps: the smoothed curve) must agree within ``LOSS_RTOL`` = 2% relative. Measured on the 2-core
CPU over three runs: at most 0.19% (bfloat16) and 0.23% (float16; both vary a little from run to run, as
threaded float rounding does), while the epoch means themselves move by 3-4%
from epoch to epoch. The curve does not show everything: with T = 100 a bfloat16 sinusoidal
embedding trains the same (every t < 256 is exact in bfloat16; measured 0.16%), so that the
embedding, the schedule, the draws and the loss stay float32 is checked on the tensors themselves.

No global dtype policy is set: the policy lives on the network's layers, and each test checks
that the global one is still float32 afterwards.
"""

import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf
from helpers import BICYCLE

from keras_ddpm import DenoisingMLP, DiffusionModel, NoiseSchedule
from keras_ddpm.data import load_points, make_dataset
from keras_ddpm.layers import PRECISIONS, apply_precision, precision_of
from keras_ddpm.process.forward import q_sample

LOSS_RTOL = 0.02
EPOCHS, BATCH, STEPS = 6, 128, 50


def train(precision, points):
    keras.utils.set_random_seed(0)
    model = DiffusionModel(apply_precision(DenoisingMLP(), precision), NoiseSchedule("linear", 100), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=STEPS, jit_compile=False)
    history = model.fit(make_dataset(points, BATCH, seed=0), epochs=EPOCHS, verbose=0)
    return model, history.history["loss"]


class MixedPrecisionTest(tf.test.TestCase):
    @classmethod
    def setUpClass(cls):
        all_points = load_points(BICYCLE)
        cls.points = all_points[np.random.default_rng(0).permutation(len(all_points))[:BATCH * STEPS]]
        cls.runs = {precision: train(precision, cls.points) for precision in PRECISIONS}

    def tearDown(self):
        self.assertEqual(keras.config.dtype_policy().name, "float32")  # nothing leaked into the process

    def test_mixed_losses_follow_the_float32_curve(self):
        reference = np.array(self.runs["none"][1])
        for precision in ("mixed_bfloat16", "mixed_float16"):
            losses = np.array(self.runs[precision][1])
            print(f"\n{precision}: {np.round(losses, 4).tolist()}\nfloat32: {np.round(reference, 4).tolist()}; "
                  f"largest relative difference {np.max(np.abs(losses / reference - 1)):.4f}")
            self.assertLess(losses[-1], 0.85 * losses[0])
            self.assertAllClose(losses, reference, rtol=LOSS_RTOL, atol=0)

    def test_the_network_is_mixed_and_the_process_float32(self):
        model = self.runs["mixed_bfloat16"][0]
        network = model.network
        self.assertEqual(precision_of(network), "mixed_bfloat16")
        self.assertEqual(network.blocks[0].dense.compute_dtype, "bfloat16")
        self.assertEqual(network.blocks[-1].projection.compute_dtype, "bfloat16")  # made by build
        self.assertEqual(network.blocks[0].dense.kernel.dtype, "float32")  # weights stay float32
        self.assertEqual(network.time_embedding.sinusoidal.compute_dtype, "float32")
        x0 = self.points[:64]
        t = tf.constant(np.arange(64) % 100, tf.int32)
        noise = tf.random.stateless_normal(x0.shape, seed=(1, 2))
        self.assertEqual(network.time_embedding.sinusoidal(t).dtype, tf.float32)
        self.assertEqual(network([x0, t]).dtype, tf.bfloat16)
        for name in ("alphas_cumprod", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod", "betas"):
            self.assertEqual(model.schedule.tensor(name).dtype, tf.float32, name)
        self.assertEqual(q_sample(model.schedule, x0, t, noise).dtype, tf.float32)
        self.assertEqual(model.per_example_loss(x0, t, noise).dtype, tf.float32)
        self.assertEqual(model.diffusion_loss(x0, training=False).dtype, tf.float32)
        seen = {}

        class Spy(DiffusionModel):  # the noise and x0 that Algorithm 1 draws and feeds the forward process
            def per_example_loss(self, x0, t, noise, labels=None, training=False):
                seen.update(x0=x0.dtype, noise=noise.dtype)
                return super().per_example_loss(x0, t, noise, labels, training)

        spy = Spy(apply_precision(DenoisingMLP(), "mixed_bfloat16"), model.schedule, seed=0)
        spy.build((None, 2))
        self.assertEqual(spy.diffusion_loss(x0, training=True).dtype, tf.float32)
        self.assertEqual(seen, {"x0": tf.float32, "noise": tf.float32})
        for sampler in ("ddpm", "ddim"):
            samples = model.generate(16, sampler=sampler, seed=0)
            self.assertEqual(samples.dtype, np.float32)
            self.assertTrue(np.all(np.isfinite(samples)))

    def test_float16_scales_the_loss(self):
        model = self.runs["mixed_float16"][0]
        self.assertIsInstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        self.assertEqual(int(model.optimizer.iterations.numpy()), EPOCHS * STEPS)  # no step was skipped
        self.assertGreater(float(model.optimizer.dynamic_scale.numpy()), 1.0)
        self.assertNotIsInstance(self.runs["mixed_bfloat16"][0].optimizer, keras.optimizers.LossScaleOptimizer)
        self.assertNotIsInstance(self.runs["none"][0].optimizer, keras.optimizers.LossScaleOptimizer)

    def test_save_and_load_keep_the_policy(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        for precision in ("mixed_bfloat16", "mixed_float16"):
            model = self.runs[precision][0]
            path = os.path.join(folder, f"{precision}.keras")
            model.save(path)
            loaded = keras.saving.load_model(path)
            self.assertEqual(precision_of(loaded.network), precision)
            self.assertEqual(loaded.network.blocks[0].dense.compute_dtype, model.network.blocks[0].dense.compute_dtype)
            self.assertEqual(loaded.network.time_embedding.sinusoidal.compute_dtype, "float32")
            self.assertEqual(type(loaded.optimizer), type(model.optimizer))
            self.assertAllEqual(loaded.generate(32, sampler="ddim", seed=1), model.generate(32, sampler="ddim", seed=1))
            for a, b in zip(loaded.network.get_weights(), model.network.get_weights()):
                self.assertAllEqual(a, b)

    def test_class_conditional_unet(self):
        from keras_ddpm.networks.unet import UNet

        keras.utils.set_random_seed(0)
        network = apply_precision(UNet(base_features=8, num_classes=3), "mixed_bfloat16")
        model = DiffusionModel(network, NoiseSchedule("cosine", 20), seed=0, class_dropout=0.1)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=2, jit_compile=False)
        images = np.random.default_rng(0).uniform(-1, 1, (16, 16, 16, 3)).astype("float32")
        labels = np.arange(16) % 3
        data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
        losses = model.fit(data, epochs=2, verbose=0).history["loss"]
        self.assertTrue(np.all(np.isfinite(losses)))
        skips = [layer for layer in network._flatten_layers() if layer.name in ("skip", "norm1", "norm2")]
        self.assertNotEmpty(skips)  # made in build, they compute as their block
        self.assertEqual({layer.compute_dtype for layer in skips}, {"bfloat16"})
        samples = model.generate(3, sampler="ddim", labels=[0, 1, 2], guidance_scale=2.0)
        self.assertEqual(samples.dtype, np.float32)
        self.assertTrue(np.all(np.isfinite(samples)))
        path = os.path.join(tempfile.mkdtemp(), "unet.keras")
        self.addCleanup(shutil.rmtree, os.path.dirname(path), ignore_errors=True)
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertEqual(precision_of(loaded.network), "mixed_bfloat16")
        self.assertAllEqual(loaded.generate(3, sampler="ddim", labels=[0, 1, 2]),
                            model.generate(3, sampler="ddim", labels=[0, 1, 2]))

    def test_unknown_precision_and_the_flag(self):
        with self.assertRaisesRegex(ValueError, "unknown mixed precision 'float8'; expected one of none, "):
            apply_precision(DenoisingMLP(), "float8")
        from keras_ddpm.cli import train_bicycle, train_sprites

        self.assertEqual(train_bicycle.parse_args([]).mixed_precision, "none")
        self.assertEqual(train_bicycle.parse_args(["--mixed-precision", "mixed_bfloat16"]).mixed_precision,
                         "mixed_bfloat16")
        self.assertEqual(train_sprites.parse_args(["--mixed-precision", "mixed_float16"]).mixed_precision,
                         "mixed_float16")
