import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_ddpm.layers import (
    ConditionalDense,
    LearnableSinusoidalEmbedding,
    SinusoidalEmbedding,
)
from keras_ddpm.networks import DenoisingMLP


class SinusoidalEmbeddingTest(tf.test.TestCase):
    def test_values(self):
        emb = np.asarray(SinusoidalEmbedding(50)(np.array([0, 1, 999])))
        self.assertEqual(emb.shape, (3, 50))
        self.assertAllClose(emb[0], np.r_[np.zeros(25), np.ones(25)])  # sin 0, cos 0
        self.assertAllClose(emb[1, 0], np.sin(1.0), atol=1e-6)  # frequency 1 first
        self.assertAllClose(emb[2, 24], np.sin(999 * 10000 ** (-24 / 25)), atol=1e-4)
        self.assertAllClose(emb[:, :25] ** 2 + emb[:, 25:] ** 2, np.ones((3, 25)), atol=1e-5)

    def test_odd_dim_and_distinct_rows(self):
        emb = np.asarray(SinusoidalEmbedding(7)(np.arange(100)))
        self.assertEqual(emb.shape, (100, 7))
        self.assertAllEqual(emb[:, -1], np.zeros(100))
        self.assertEqual(len(np.unique(emb.round(5), axis=0)), 100)

    def test_bad_dim(self):
        with self.assertRaisesRegex(ValueError, "dim must be an integer >= 2"):
            SinusoidalEmbedding(1)


class LayerConfigTest(tf.test.TestCase):
    def test_get_config_round_trips(self):
        for layer in (
            SinusoidalEmbedding(16, max_period=100.0),
            LearnableSinusoidalEmbedding(50, 64),
            ConditionalDense(8, activation=None, project_embedding=True),
        ):
            config = keras.saving.serialize_keras_object(layer)
            clone = keras.saving.deserialize_keras_object(config)
            self.assertEqual(type(clone), type(layer))
            self.assertEqual(clone.get_config(), layer.get_config())

    def test_learnable_embedding_shape(self):
        out = LearnableSinusoidalEmbedding()(np.arange(5))
        self.assertEqual(tuple(out.shape), (5, 128))

    def test_conditional_dense_projects_only_when_widths_differ(self):
        x, emb = np.ones((4, 3), np.float32), np.ones((4, 128), np.float32)
        same = ConditionalDense(128)
        same([x, emb])
        self.assertIsNone(same.projection)
        narrow = ConditionalDense(2, activation=None)
        self.assertEqual(tuple(narrow([x, emb]).shape), (4, 2))
        self.assertIsNotNone(narrow.projection)

    def test_conditional_dense_is_relu_of_dense_plus_embedding(self):
        layer = ConditionalDense(5)
        x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
        emb = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
        out = layer([x, emb])
        kernel, bias = (np.asarray(w) for w in layer.dense.weights)
        self.assertAllClose(out, np.maximum(x @ kernel + bias + emb, 0.0), atol=1e-6)
        # an embedding with batch 1 broadcasts (one timestep for the whole batch)
        self.assertAllClose(layer([x, emb[:1]]), np.maximum(x @ kernel + bias + emb[:1], 0.0), atol=1e-6)


class DenoisingMLPTest(tf.test.TestCase):
    def test_shapes_for_several_batch_sizes(self):
        net = DenoisingMLP()
        for batch in (1, 7, 64, 1000):
            x = np.zeros((batch, 2), np.float32)
            t = np.random.default_rng(batch).integers(0, 1000, batch)
            self.assertEqual(tuple(net([x, t]).shape), (batch, 2))

    def test_assignment_architecture(self):
        net = DenoisingMLP()
        net([np.zeros((1, 2), np.float32), np.zeros(1, np.int32)])
        self.assertEqual([b.units for b in net.blocks], [128, 128, 128, 2])
        self.assertEqual(net.time_embedding.dim, 50)
        self.assertEqual(net.time_embedding.units, 128)
        # embedding 50*128+128 + 128*128+128; blocks 2*128+128, 2x(128*128+128), 128*2+2 + projection 128*2
        self.assertEqual(net.count_params(), 6528 + 16512 + 384 + 2 * 16512 + 258 + 256)

    def test_split_call_equals_call(self):
        net = DenoisingMLP()
        x = np.random.default_rng(0).standard_normal((9, 2)).astype(np.float32)
        t = np.full(9, 321)
        self.assertAllClose(net([x, t]), net.denoise(x, net.embed_time(np.array([321]))), atol=1e-6)

    def test_keras_file_round_trip(self):
        net = DenoisingMLP(data_dim=3, hidden_units=(32, 16), embedding_dim=10, embedding_units=32)
        x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
        t = np.array([0, 1, 2, 500, 999])
        expected = np.asarray(net([x, t]))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "net.keras")
            net.save(path)
            loaded = keras.saving.load_model(path)
        self.assertIsInstance(loaded, DenoisingMLP)
        self.assertEqual(loaded.get_config(), net.get_config())
        self.assertAllEqual(loaded([x, t]), expected)
