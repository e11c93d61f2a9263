"""The models behave like Keras models: built from the first batch, saved and reloaded with their
optimizer state by every standard path, `generate` instead of `predict`, loadable after only
``import keras_ddpm``."""

import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
import textwrap

import keras
import numpy as np
import tensorflow as tf
from helpers import ROOT

from keras_ddpm import (
    DDIMSampler,
    DDPMSampler,
    DenoisingMLP,
    DenoisingScoreMatching,
    DiffusionModel,
    NoiseConditionalScoreNetwork,
    NoiseSchedule,
    UNet,
)
from keras_ddpm.data import make_dataset
from keras_ddpm.training.score_matching import train_dsm

#: The README's library recipe, without a manual `build`, taken through every standard Keras save
#: and resume path in a fresh interpreter. Run it by hand with ``python -c "$RECIPE" OUT_DIR``.
RECIPE = textwrap.dedent(
    r"""
    import os, re, sys, warnings
    import keras, numpy as np
    from keras_ddpm import DenoisingMLP, DiffusionModel, NoiseSchedule
    from keras_ddpm.data import make_dataset

    out = sys.argv[1]
    angle = np.random.default_rng(0).uniform(0, 2 * np.pi, 512)
    points = 0.8 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    data = make_dataset(points, batch_size=64)  # 8 batches (updates) per epoch

    def new_model():
        model = DiffusionModel(DenoisingMLP(hidden_units=(32, 32)), NoiseSchedule("linear", timesteps=50), seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        return model

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("interrupted")

    backup = os.path.join(out, "backup")
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        model = new_model()
        print("built before fit:", model.built)
        try:
            model.fit(data, epochs=4, verbose=0, callbacks=[
                keras.callbacks.BackupAndRestore(backup),
                keras.callbacks.ModelCheckpoint(os.path.join(out, "last.weights.h5"), save_weights_only=True),
                keras.callbacks.ModelCheckpoint(os.path.join(out, "epoch_{epoch}.keras")),
                Interrupt()])
        except RuntimeError as err:
            print(f"fit stopped: {err}; built: {model.built}, updates: {int(model.optimizer.iterations)}")

        resumed = new_model()
        history = resumed.fit(data, epochs=4, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(backup)])
        print(f"resumed: {len(history.history['loss'])} more epochs, updates: {int(resumed.optimizer.iterations)}")

        resumed.save(os.path.join(out, "ring.keras"))
        loaded = keras.saving.load_model(os.path.join(out, "ring.keras"))
        same = all(np.array_equal(a, b) for a, b in zip(resumed.get_weights(), loaded.get_weights()))
        print(f"reloaded: updates {int(loaded.optimizer.iterations)}, same weights: {same}")
        checkpoint = keras.saving.load_model(os.path.join(out, "epoch_2.keras"))
        print(f"epoch_2.keras: updates {int(checkpoint.optimizer.iterations)}")
        checkpoint.load_weights(os.path.join(out, "last.weights.h5"))
        print("last.weights.h5 loads into it")

        loaded.fit(data, epochs=1, verbose=0)
        print(f"trained on after reloading: updates {int(loaded.optimizer.iterations)}")
        ddpm = loaded.generate(500, seed=0)
        ddim = loaded.generate(500, sampler="ddim", seed=0)
        print(f"generated: DDPM {ddpm.shape}, DDIM {ddim.shape}, all finite: {bool(np.isfinite(ddpm).all())}")
    trouble = [str(w.message) for w in caught
               if re.search("not yet been built|Skipping variable loading|must be built", str(w.message))]
    print("warnings about building or skipped variables:", trouble)
    """
)

#: Loads the models saved by `ModelFilesTest` in a fresh interpreter after only ``import keras_ddpm``.
LOAD = textwrap.dedent(
    r"""
    import sys
    import keras
    import keras_ddpm  # noqa: F401  (registers every serializable class)

    for path in sys.argv[1:]:
        model = keras.saving.load_model(path)
        print(f"{type(model).__name__} {type(model.denoiser).__name__} built={model.built} "
              f"updates={int(model.optimizer.iterations)}")
    print("registered:", ",".join(sorted(k for k in keras.saving.get_custom_objects() if k.startswith("keras_ddpm>"))))
    """
)


def fresh_python(code, *args, timeout=120):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=tempfile.gettempdir(), env=env,
                          capture_output=True, text=True, timeout=timeout)


def ring(n=256):
    angle = np.random.default_rng(0).uniform(0, 2 * np.pi, n)
    return (0.8 * np.stack([np.cos(angle), np.sin(angle)], axis=1)).astype(np.float32)


def small_model(**kwargs):
    model = DiffusionModel(DenoisingMLP(hidden_units=(8,), embedding_units=8), NoiseSchedule("linear", 10), seed=0,
                           **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


class RecipeTest(tf.test.TestCase):
    def test_the_readme_recipe_saves_resumes_reloads_and_generates_without_build(self):
        with tempfile.TemporaryDirectory() as out:
            run = fresh_python(RECIPE, out)
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        self.assertEqual(run.stdout.splitlines(), [
            "built before fit: False",
            "fit stopped: interrupted; built: True, updates: 16",
            "resumed: 2 more epochs, updates: 32",
            "reloaded: updates 32, same weights: True",
            "epoch_2.keras: updates 16",
            "last.weights.h5 loads into it",
            "trained on after reloading: updates 40",
            "generated: DDPM (500, 2), DDIM (500, 2), all finite: True",
            "warnings about building or skipped variables: []",
        ])


class KerasApiTest(tf.test.TestCase):
    def test_compile_refuses_what_it_would_ignore(self):
        model = DiffusionModel(DenoisingMLP(hidden_units=(8,)))
        for kwargs in ({"loss": "mse"}, {"metrics": ["mae"]}, {"weighted_metrics": ["mae"]}, {"loss_weights": [1.0]}):
            name = next(iter(kwargs))
            with self.assertRaisesRegex(ValueError, rf"DiffusionModel.compile\(\) takes no {name}: the model trains "
                                                    "on its own loss"):
                model.compile(optimizer="adam", **kwargs)
        with self.assertRaisesRegex(ValueError, "takes no loss"):
            model.compile("adam", "mse")
        dsm = DenoisingScoreMatching(NoiseConditionalScoreNetwork(hidden_units=(8,)), sigmas=[1.0])
        with self.assertRaisesRegex(ValueError, r"DenoisingScoreMatching.compile\(\) takes no loss"):
            dsm.compile(optimizer="adam", loss="mse")
        model.compile(optimizer="adam", metrics=[])  # nothing ignored
        self.assertIsInstance(model.optimizer, keras.optimizers.Adam)

    def test_predict_points_to_what_to_call_instead(self):
        model = small_model()
        with self.assertRaisesRegex(ValueError, r"DiffusionModel has nothing to predict from data: draw samples "
                                                r"with model.generate\(num_samples\)"):
            model.predict(ring())
        with self.assertRaisesRegex(ValueError, "model.generate"):
            model.predict_on_batch(ring())
        dsm = DenoisingScoreMatching(NoiseConditionalScoreNetwork(hidden_units=(8,)), sigmas=[1.0])
        with self.assertRaisesRegex(ValueError, r"model.score_network.predict\(\[x, sigma\]\)"):
            dsm.predict(ring())

    def test_generate_runs_the_compiled_samplers(self):
        model = small_model()
        with self.assertRaisesRegex(ValueError, "num_samples must be"):
            model.generate(0)
        model.fit(ring(), batch_size=64, epochs=1, verbose=0)
        self.assertEqual(model.data_shape, (2,))
        schedule, network = model.schedule, model.network
        self.assertAllEqual(model.generate(40, seed=3), DDPMSampler(schedule).sample(network, (40, 2), seed=3))
        self.assertAllEqual(model.generate(40, sampler="ddim", seed=3),
                            DDIMSampler(schedule, num_steps=10).sample(network, (40, 2), seed=3))
        five = DDIMSampler(schedule, num_steps=5, eta=0.5)
        self.assertAllEqual(model.generate(40, sampler=five, seed=3), five.sample(network, (40, 2), seed=3))
        with self.assertRaisesRegex(ValueError, "sampler must be one of ddpm, ddim or a Sampler instance"):
            model.generate(4, sampler="euler")

    def test_generate_needs_a_data_shape_for_networks_without_one(self):
        model = DiffusionModel(UNet(channels=1, base_features=8, channel_multipliers=(1,)), NoiseSchedule("linear", 5))
        with self.assertRaisesRegex(ValueError, r"generate needs the shape of the data: fit the model first"):
            model.generate(2)

    def test_fit_builds_from_arrays_and_fused_stacks(self):
        model = small_model()
        model.fit(ring(), batch_size=32, epochs=1, verbose=0)
        self.assertTrue(model.built)
        self.assertEqual(model.get_build_config(), {"input_shape": (None, 2)})
        fused = small_model(fused_steps=2)
        fused.fit(make_dataset(ring(), batch_size=32, fused_steps=2), epochs=1, verbose=0)
        self.assertEqual(fused.data_shape, (2,))
        self.assertEqual(int(fused.optimizer.iterations), 8)


class ModelFilesTest(tf.test.TestCase):
    """One saved model of each kind, reloaded in a fresh interpreter that imports only keras_ddpm."""

    def test_every_model_kind_loads_after_import_keras_ddpm_alone(self):
        tmp = tempfile.mkdtemp()
        paths = []
        mlp = small_model()
        mlp.fit(ring(), batch_size=64, epochs=1, verbose=0)
        paths.append(os.path.join(tmp, "bicycle_mlp.keras"))
        mlp.save(paths[-1])

        images = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 3)).astype(np.float32)
        labels = np.arange(16) % 3
        unet = DiffusionModel(UNet(base_features=8, channel_multipliers=(1,), num_classes=3),
                              NoiseSchedule("linear", 5), class_dropout=0.1, seed=0)
        unet.compile(optimizer=keras.optimizers.Adam(1e-3))
        unet.fit(tf.data.Dataset.from_tensor_slices((images, labels)).batch(8), epochs=1, verbose=0)
        self.assertEqual(unet.generate(3, labels=[0, 1, 2], guidance_scale=2.0, seed=1).shape, (3, 8, 8, 3))
        paths.append(os.path.join(tmp, "sprite_unet.keras"))
        unet.save(paths[-1])

        score = DenoisingScoreMatching(NoiseConditionalScoreNetwork(hidden_units=(8,)), sigmas=[1.0, 0.5], seed=0)
        score.compile(optimizer=keras.optimizers.Adam(1e-3))
        score.fit(ring(), batch_size=64, epochs=1, verbose=0)
        paths.append(os.path.join(tmp, "score.keras"))
        score.save(paths[-1])

        run = fresh_python(LOAD, *paths)
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        lines = run.stdout.splitlines()
        self.assertEqual(lines[:3], ["DiffusionModel DenoisingMLP built=True updates=4",
                                     "DiffusionModel UNet built=True updates=2",
                                     "DenoisingScoreMatching NoiseConditionalScoreNetwork built=True updates=4"])
        # Every class the package registers is registered by `import keras_ddpm` alone.
        declared = set()
        for folder, _, files in os.walk(os.path.join(ROOT, "keras_ddpm")):
            for name in files:
                if name.endswith(".py"):
                    with open(os.path.join(folder, name), encoding="utf-8") as handle:
                        declared.update(re.findall(r'register_keras_serializable\(package="keras_ddpm"\)\s*\n'
                                                   r"class (\w+)", handle.read()))
        self.assertGreater(len(declared), 10)
        self.assertEqual(lines[3], "registered: " + ",".join(sorted(f"keras_ddpm>{n}" for n in declared)))


class ProgressTest(tf.test.TestCase):
    def test_score_training_shows_one_bar_over_its_epochs(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            _, losses = train_dsm(NoiseConditionalScoreNetwork(hidden_units=(8,)), ring(), [1.0], steps=4,
                                  batch_size=64, epochs=2, progress=True)
        self.assertLen(losses, 2)
        text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())  # a terminal's colours
        self.assertRegex(text, r"2/2 .*/epoch - loss: \d")
        self.assertNotIn("Epoch 1/2", text)  # fit's own per-epoch bars stay off
