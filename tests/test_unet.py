"""The image UNet and its blocks: shapes, conditioning, errors, .keras round trips, DDIM on images."""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_ddpm import DiffusionModel, NoiseSchedule
from keras_ddpm.layers.attention import SpatialSelfAttention
from keras_ddpm.layers.conv import Downsample, ResidualConvBlock, Upsample
from keras_ddpm.networks.unet import UNet
from keras_ddpm.samplers import DDIMSampler
from keras_ddpm.samplers.base import initial_noise


def _inputs(batch, h=16, w=16, num_classes=None, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, h, w, 3)).astype(np.float32)
    t = rng.integers(0, 50, size=batch).astype(np.int32)
    if num_classes is None:
        return [x, t]
    return [x, t, rng.integers(0, num_classes + 1, size=batch).astype(np.int32)]


def _untrained(net, seed=0):
    """The output conv starts at zero (eps = 0 for any input); give it random weights for tests
    that need the output to depend on the inputs."""
    kernel = net.out_conv.kernel
    kernel.assign(np.random.default_rng(seed).normal(scale=0.1, size=kernel.shape).astype(np.float32))
    return net


class BlocksTest(tf.test.TestCase):
    def test_residual_block_shapes_and_skip(self):
        x = np.ones((2, 8, 8, 6), np.float32)
        emb = np.ones((2, 12), np.float32)
        same = ResidualConvBlock(6, groups=3)
        wider = ResidualConvBlock(10, groups=4)
        self.assertEqual(tuple(same([x, emb]).shape), (2, 8, 8, 6))
        self.assertIsNone(same.skip)
        self.assertEqual(tuple(wider([x, emb]).shape), (2, 8, 8, 10))
        self.assertIsNotNone(wider.skip)  # 1x1 conv when the width changes
        # An embedding of batch 1 broadcasts over the images.
        self.assertEqual(tuple(same([x, emb[:1]]).shape), (2, 8, 8, 6))

    def test_embedding_changes_the_output(self):
        block = ResidualConvBlock(4, groups=2)
        x = np.random.default_rng(0).normal(size=(1, 4, 4, 4)).astype(np.float32)
        a = block([x, np.zeros((1, 8), np.float32)])
        b = block([x, np.ones((1, 8), np.float32)])
        self.assertGreater(float(np.abs(a - b).max()), 1e-4)

    def test_down_and_up_sampling(self):
        x = np.ones((2, 8, 12, 4), np.float32)
        self.assertEqual(tuple(Downsample(5)(x).shape), (2, 4, 6, 5))
        self.assertEqual(tuple(Upsample(3)(x).shape), (2, 16, 24, 3))

    def test_bad_block_arguments(self):
        with self.assertRaisesRegex(ValueError, "filters"):
            ResidualConvBlock(0)
        with self.assertRaisesRegex(ValueError, "dropout"):
            ResidualConvBlock(4, dropout=1.0)


class AttentionTest(tf.test.TestCase):
    def _randomised(self, layer, x, seed=0):
        layer.build(x.shape)
        rng = np.random.default_rng(seed)
        for w in layer.weights:
            w.assign(rng.normal(scale=0.3, size=w.shape).astype(np.float32))
        return layer

    def test_starts_as_the_identity(self):
        x = np.random.default_rng(0).normal(size=(2, 4, 4, 8)).astype(np.float32)
        self.assertAllClose(SpatialSelfAttention(num_heads=2, groups=4)(x), x, atol=0)

    def test_matches_softmax_attention_over_the_pixels(self):
        x = np.random.default_rng(1).normal(size=(2, 4, 2, 6)).astype(np.float32)
        layer = self._randomised(SpatialSelfAttention(num_heads=2, groups=3), x)
        h = layer.norm(x).numpy().reshape(2, 8, 6)
        qkv = h @ layer.qkv.kernel.numpy() + layer.qkv.bias.numpy()
        q, k, v = (qkv[..., i * 6:(i + 1) * 6].reshape(2, 8, 2, 3) for i in range(3))
        logits = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(3.0)
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        heads = np.einsum("bhqk,bkhd->bqhd", weights, v).reshape(2, 8, 6)
        expected = x + (heads @ layer.projection.kernel.numpy() + layer.projection.bias.numpy()).reshape(x.shape)
        self.assertAllClose(layer(x), expected, atol=1e-5)

    def test_every_pixel_sees_every_other(self):
        x = np.random.default_rng(2).normal(size=(1, 4, 4, 4)).astype(np.float32)
        layer = self._randomised(SpatialSelfAttention(groups=2), x)
        moved = x.copy()
        moved[0, 3, 3] += 1.0  # one corner pixel
        self.assertGreater(float(np.abs(layer(x) - layer(moved))[0, 0, 0].max()), 1e-4)  # the far corner

    def test_bad_heads(self):
        with self.assertRaisesRegex(ValueError, "heads"):
            SpatialSelfAttention(num_heads=3)(np.zeros((1, 2, 2, 4), np.float32))
        with self.assertRaisesRegex(ValueError, "num_heads"):
            SpatialSelfAttention(num_heads=0)


class UNetTest(tf.test.TestCase):
    def test_output_shape_matches_input_for_sizes_divisible_by_four(self):
        for (h, w), num_classes in (((16, 16), None), ((16, 16), 5), ((8, 12), None), ((32, 16), 5)):
            net = UNet(base_features=8, num_classes=num_classes)
            inputs = _inputs(3, h, w, num_classes)
            self.assertEqual(tuple(net(inputs).shape), (3, h, w, 3), (h, w, num_classes))

    def test_sizes_are_configurable(self):
        small = UNet(base_features=8)
        small.build([(None, 16, 16, 3), (None,)])
        course = UNet(base_features=64)
        course.build([(None, 16, 16, 3), (None,)])
        self.assertGreater(course.count_params(), 20 * small.count_params())
        deeper = UNet(base_features=8, channel_multipliers=(1, 2, 2))
        self.assertEqual(tuple(deeper(_inputs(2, 16, 16)).shape), (2, 16, 16, 3))
        with self.assertRaisesRegex(ValueError, "divisible by 8"):
            deeper(_inputs(2, 12, 12))
        attending = UNet(base_features=8, attention_levels=(1, 2))
        attending.build([(None, 16, 16, 3), (None,)])
        self.assertEqual(tuple(attending(_inputs(2, 16, 16)).shape), (2, 16, 16, 3))
        names = {layer.name for layer in attending._flatten_layers() if isinstance(layer, SpatialSelfAttention)}
        self.assertEqual(names, {"down1_attention0", "middle_attention", "up1_attention0"})
        self.assertGreater(attending.count_params(), small.count_params())
        with self.assertRaisesRegex(ValueError, "attention_levels"):
            UNet(base_features=8, attention_levels=(3,))

    def test_bad_shapes_and_inputs_give_clear_errors(self):
        net = UNet(base_features=8)
        with self.assertRaisesRegex(ValueError, "divisible by 4"):
            net.build([(None, 18, 16, 3), (None,)])
        with self.assertRaisesRegex(ValueError, "channels"):
            UNet(base_features=8, channels=3).build([(None, 16, 16, 1), (None,)])
        with self.assertRaisesRegex(ValueError, r"\[x_t, t, labels\]"):
            UNet(base_features=8, num_classes=3)(_inputs(2))
        with self.assertRaisesRegex(ValueError, "base_features"):
            UNet(base_features=0)
        with self.assertRaisesRegex(ValueError, "num_classes"):
            UNet(num_classes=0)

    def test_time_and_class_condition_the_output(self):
        net = UNet(base_features=8, num_classes=4)
        net.build([(None, 16, 16, 3), (None,), (None,)])
        self.assertAllEqual(net(_inputs(2, num_classes=4)), np.zeros((2, 16, 16, 3)))  # zero-initialised output
        _untrained(net)
        x, t, _ = _inputs(2, num_classes=4)
        labels = np.array([0, 0], np.int32)
        base = net([x, t, labels]).numpy()
        self.assertGreater(np.abs(base - net([x, t + 7, labels]).numpy()).max(), 1e-5)
        self.assertGreater(np.abs(base - net([x, t, labels + 1]).numpy()).max(), 1e-5)
        # One-hot rows are the same as ids; the "no class" id is num_classes.
        self.assertAllClose(base, net([x, t, np.eye(4, dtype=np.float32)[labels]]).numpy(), atol=1e-6)
        self.assertEqual(net([x, t, np.array([4, 4], np.int32)]).shape, x.shape)

    def test_keras_round_trip_of_network_and_diffusion_model(self):
        folder = tempfile.mkdtemp()
        net = UNet(base_features=8, num_classes=3, dropout=0.1, attention_levels=(2,))
        model = DiffusionModel(net, NoiseSchedule("linear", 50), seed=1, class_dropout=0.1)
        model.build((None, 16, 16, 3))
        _untrained(net)
        projection = net.middle_attention.projection.kernel  # zero at the start: give it weights too
        projection.assign(np.random.default_rng(3).normal(scale=0.1, size=projection.shape).astype(np.float32))
        inputs = _inputs(2, num_classes=3)
        expected = net(inputs).numpy()

        path = os.path.join(folder, "unet.keras")
        net.save(path)
        loaded = keras.saving.load_model(path)
        self.assertIsInstance(loaded, UNet)
        self.assertEqual(loaded.get_config()["num_classes"], 3)
        self.assertEqual(loaded.get_config()["attention_levels"], [2])
        self.assertAllClose(loaded(inputs).numpy(), expected, atol=1e-6)

        path = os.path.join(folder, "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
        self.assertIsInstance(restored.network, UNet)
        self.assertEqual(restored.class_dropout, 0.1)
        self.assertAllClose(restored.network(inputs).numpy(), expected, atol=1e-6)

    def test_one_training_step_on_labelled_images(self):
        net = UNet(base_features=8, num_classes=3)
        model = DiffusionModel(net, NoiseSchedule("linear", 50), seed=0, class_dropout=0.2)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.build((None, 16, 16, 3))
        _untrained(net)
        x = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 3)).astype(np.float32)
        y = np.eye(3, dtype=np.float32)[np.arange(8) % 3]  # one-hot labels, as in the course files
        before = [w.numpy().copy() for w in net.trainable_weights]
        logs = model.train_step((x, y))  # Algorithm 1, eagerly (fit's compiled step is the same code)
        self.assertTrue(np.isfinite(float(logs["loss"])))
        changed = [np.abs(a - w.numpy()).max() > 0 for a, w in zip(before, net.trainable_weights)]
        self.assertGreater(np.mean(changed), 0.9)  # the gradient reaches (nearly) every weight

    def test_fused_steps_on_labelled_images_equal_single_steps(self):
        x = np.random.default_rng(0).uniform(-1, 1, (2, 4, 16, 16, 3)).astype(np.float32)
        y = np.eye(3, dtype=np.float32)[np.arange(8).reshape(2, 4) % 3]  # (steps, batch, classes) one-hot

        def trained(fused_steps):
            keras.utils.set_random_seed(0)
            net = UNet(base_features=8, num_classes=3)
            model = DiffusionModel(net, NoiseSchedule("linear", 50), seed=0, fused_steps=fused_steps)
            model.compile(optimizer=keras.optimizers.SGD(0.1))
            model.build((None, 16, 16, 3))
            _untrained(net)
            if fused_steps == 1:
                model.train_step((x[0], y[0]))
                model.train_step((x[1], y[1]))
            else:
                model.train_step((x, y))
            return net

        single, fused = trained(1), trained(2)
        for a, b in zip(single.trainable_weights, fused.trainable_weights):
            self.assertAllClose(a, b, atol=1e-5)
        model = DiffusionModel(UNet(base_features=8, num_classes=3), fused_steps=2)
        model.build((None, 16, 16, 3))
        with self.assertRaisesRegex(ValueError, "stack of minibatches"):
            model.train_step((x[0], y[0]))


class DDIMOnImagesTest(tf.test.TestCase):
    """DDIM (the shared sampler) on a UNet: deterministic at eta = 0."""

    def setUp(self):
        self.schedule = NoiseSchedule("linear", 40)
        self.net = UNet(base_features=8, num_classes=3)
        self.net.build([(None, 16, 16, 3), (None,), (None,)])
        _untrained(self.net)

    def test_eta_zero_same_noise_in_same_image_out(self):
        sampler = DDIMSampler(self.schedule, num_steps=8, eta=0.0, clip_x0=(-1, 1))
        a = sampler.sample(self.net, (3, 16, 16, 3), seed=5)
        b = sampler.sample(self.net, (3, 16, 16, 3), seed=5)
        self.assertAllEqual(a, b)
        # With eta = 0 the only randomness is x_T: another step-noise seed changes nothing.
        x_T = initial_noise((3, 16, 16, 3), 5)
        c = sampler.generate(self.net, x_T, tf.constant(99, tf.int64)).numpy()
        self.assertAllClose(a, c, atol=1e-5)
        d = sampler.sample(self.net, (3, 16, 16, 3), seed=6)
        self.assertGreater(np.abs(a - d).max(), 1e-3)

    def test_guided_per_class_sampling_runs_and_depends_on_labels(self):
        sampler = DDIMSampler(self.schedule, num_steps=5, clip_x0=(-1, 1))
        labels = np.array([0, 1, 2], np.int32)
        guided = sampler.sample(self.net, (3, 16, 16, 3), seed=1, labels=labels, guidance_scale=3.0)
        other = sampler.sample(self.net, (3, 16, 16, 3), seed=1, labels=labels[::-1].copy(), guidance_scale=3.0)
        self.assertEqual(guided.shape, (3, 16, 16, 3))
        self.assertTrue(np.all(np.isfinite(guided)))
        self.assertAllClose(guided[1], other[1], atol=1e-5)  # same label, same noise
        self.assertGreater(np.abs(guided[0] - other[0]).max(), 1e-4)
