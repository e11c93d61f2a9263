"""SavedModel export of the samplers, loaded in a fresh process, and the standalone sample.py."""

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import keras
import numpy as np
import tensorflow as tf
from helpers import run_script

import sample as sample_script  # the top-level sample.py
from keras_ddpm import DenoisingMLP, DiffusionModel, NoiseSchedule
from keras_ddpm.export import (
    MARKER_FILE,
    build_archive,
    default_path,
    export_sampler,
    infer_data_shape,
)
from keras_ddpm.export import main as export_main
from keras_ddpm.process.forward import q_sample
from keras_ddpm.samplers import DDIMSampler, DDPMSampler, initial_noise
from keras_ddpm.utils.cli import run_cli
from keras_ddpm.utils.io import save_model

T = 100

FRESH_PROCESS = textwrap.dedent(
    r"""
    import sys
    import numpy as np
    import tensorflow as tf

    sampler = tf.saved_model.load(sys.argv[1])
    seed = tf.constant(5, tf.int64)
    out = {
        "ddpm": sampler.sample(num_samples=tf.constant(200), seed=seed)["samples"],
        "ddpm_again": sampler.sample(num_samples=tf.constant(200), seed=seed)["samples"],
        "ddpm_seed6": sampler.sample(num_samples=tf.constant(200), seed=tf.constant(6, tf.int64))["samples"],
        "ddim": sampler.sample_ddim(num_samples=tf.constant(200), num_steps=tf.constant(20),
                                    eta=tf.constant(0.0), seed=seed)["samples"],
        "ddim_signature": sampler.signatures["sample_ddim"](num_samples=tf.constant(200), num_steps=tf.constant(20),
                                                           eta=tf.constant(0.0), seed=seed)["samples"],
    }
    np.savez(sys.argv[2], **{k: v.numpy() for k, v in out.items()})
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "keras_ddpm")
    print("keras_ddpm modules:", loaded)
    """
)


def mlp(seed=0):
    keras.utils.set_random_seed(seed)
    network = DenoisingMLP()
    network([np.zeros((1, 2), np.float32), np.zeros(1, np.int32)])
    return network


class TinyConditionalImageNet(keras.Model):
    """A small class-conditional eps network on 4x4x3 images: enough to test the plumbing."""

    data_shape = (4, 4, 3)

    def __init__(self, num_classes=3, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.flatten = keras.layers.Flatten()
        self.time = keras.layers.Embedding(T, 16)
        self.label = keras.layers.Embedding(num_classes + 1, 16)
        self.hidden = keras.layers.Dense(32, activation="tanh")
        self.out = keras.layers.Dense(48)
        self.reshape = keras.layers.Reshape(self.data_shape)

    def call(self, inputs):
        x, t, labels = inputs
        h = keras.ops.concatenate([self.flatten(x), self.time(t), self.label(labels)], axis=-1)
        return self.reshape(self.out(self.hidden(h)))


def run_sample_script(*argv):
    """sample.py's `run_cli` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = sample_script.run_cli(list(argv))
        except SystemExit as exit_:  # argparse's errors (bad flags) exit from parse_args
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


class ExportTest(tf.test.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp()
        cls.schedule = NoiseSchedule("linear", T)
        cls.network = mlp()
        cls.path = export_sampler(DiffusionModel(cls.network, cls.schedule), os.path.join(cls.tmp, "bicycle"))
        cls.loaded = tf.saved_model.load(cls.path)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def test_endpoints_match_the_in_process_samplers(self):
        seed = tf.constant(3, tf.int64)
        got = self.loaded.sample(num_samples=tf.constant(300), seed=seed)["samples"].numpy()
        self.assertAllEqual(got, DDPMSampler(self.schedule).sample(self.network, (300, 2), seed=3))
        for steps, eta in ((10, 0.0), (37, 0.5), (T, 1.0)):
            got = self.loaded.sample_ddim(num_samples=tf.constant(300), num_steps=tf.constant(steps),
                                          eta=tf.constant(eta), seed=seed)["samples"].numpy()
            expected = DDIMSampler(self.schedule, num_steps=steps, eta=eta).sample(self.network, (300, 2), seed=3)
            self.assertAllEqual(got, expected, msg=f"DDIM {steps} steps, eta {eta}")
        x0 = np.random.default_rng(0).uniform(-1, 1, (50, 2)).astype(np.float32)
        x_t = self.loaded.diffuse(x0=tf.constant(x0), t=tf.constant(40), seed=seed)["samples"].numpy()
        expected_x_t = q_sample(self.schedule, x0, np.full(50, 40), initial_noise((50, 2), 3))
        self.assertAllClose(x_t, expected_x_t, atol=1e-6)
        got = self.loaded.denoise_from(x=tf.constant(x_t), t_start=tf.constant(40), seed=seed)["samples"].numpy()
        self.assertAllEqual(got, DDPMSampler(self.schedule).denoise_from(self.network, x_t, 40, seed=3))

    def test_info_and_signatures(self):
        info = {k: v.numpy() for k, v in self.loaded.info().items()}
        self.assertEqual(int(info["timesteps"]), T)
        self.assertEqual(int(info["num_classes"]), 0)
        self.assertAllEqual(info["data_shape"], [2])
        self.assertIn(b'"kind": "linear"', info["schedule"])
        for name in ("sample", "sample_ddim", "denoise_from", "diffuse", "info"):
            self.assertIn(name, self.loaded.signatures)
        self.assertEqual(sorted(self.loaded.signatures["sample_ddim"].structured_input_signature[1]),
                         ["eta", "num_samples", "num_steps", "seed"])
        self.assertEqual(default_path("bicycle"), os.path.join("saved_models", "bicycle"))

    def test_inputs_are_validated_inside_the_graph(self):
        seed = tf.constant(0, tf.int64)
        cases = [
            (lambda: self.loaded.sample(num_samples=tf.constant(0), seed=seed), "num_samples must be >= 1"),
            (lambda: self.loaded.sample_ddim(num_samples=tf.constant(5), num_steps=tf.constant(0),
                                             eta=tf.constant(0.0), seed=seed), rf"num_steps must be in 1\.\.{T}"),
            (lambda: self.loaded.sample_ddim(num_samples=tf.constant(5), num_steps=tf.constant(T + 1),
                                             eta=tf.constant(0.0), seed=seed), rf"num_steps must be in 1\.\.{T}"),
            (lambda: self.loaded.sample_ddim(num_samples=tf.constant(5), num_steps=tf.constant(10),
                                             eta=tf.constant(1.5), seed=seed), r"eta in \[0, 1\]"),
            (lambda: self.loaded.denoise_from(x=tf.zeros((5, 2)), t_start=tf.constant(T), seed=seed),
             rf"t_start must be in 0\.\.{T - 1}"),
            (lambda: self.loaded.diffuse(x0=tf.zeros((5, 2)), t=tf.constant(-1), seed=seed), rf"t must be in 0\.\.{T - 1}"),
        ]
        for call, message in cases:
            with self.assertRaisesRegex(tf.errors.InvalidArgumentError, message):
                call()

    def test_fresh_process_without_keras_ddpm_gives_the_same_samples(self):
        out = os.path.join(self.tmp, "fresh.npz")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        # The numerics keras_ddpm (and sample.py) run with; with oneDNN's rewrites on, the samples
        # differ from the in-process ones by float round-off (measured: up to ~1.4e-6).
        env.update(TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
        run = subprocess.run([sys.executable, "-c", FRESH_PROCESS, self.path, out], cwd=self.tmp, env=env,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        self.assertIn("keras_ddpm modules: []", run.stdout)
        fresh = np.load(out)
        self.assertAllEqual(fresh["ddpm"], DDPMSampler(self.schedule).sample(self.network, (200, 2), seed=5))
        self.assertAllEqual(fresh["ddpm"], fresh["ddpm_again"])
        self.assertGreater(np.abs(fresh["ddpm"] - fresh["ddpm_seed6"]).mean(), 0.1)
        ddim = DDIMSampler(self.schedule, num_steps=20, eta=0.0).sample(self.network, (200, 2), seed=5)
        self.assertAllEqual(fresh["ddim"], ddim)
        self.assertAllEqual(fresh["ddim_signature"], ddim)

    def test_export_replaces_atomically_and_rejects_bad_input(self):
        path = os.path.join(self.tmp, "again")
        export_sampler(self.network, path, schedule=self.schedule)
        stamp = os.path.getmtime(os.path.join(path, "saved_model.pb"))
        export_sampler(self.network, path, schedule=self.schedule)  # over an existing export
        self.assertTrue(os.path.isfile(os.path.join(path, "saved_model.pb")))
        self.assertGreaterEqual(os.path.getmtime(os.path.join(path, "saved_model.pb")), stamp)
        self.assertEqual([f for f in os.listdir(self.tmp) if f.startswith(".")], [], "no temporary folders left")
        with self.assertRaisesRegex(ValueError, "NoiseSchedule the network was trained with"):
            export_sampler(self.network, os.path.join(self.tmp, "x"))
        with self.assertRaisesRegex(ValueError, "a SavedModel is a folder"):
            export_sampler(self.network, os.path.join(self.tmp, "x.keras"), schedule=self.schedule)
        with self.assertRaisesRegex(ValueError, "is not built"):
            build_archive(DenoisingMLP(), schedule=self.schedule)
        self.assertEqual(infer_data_shape(self.network), (2,))

    def test_export_command_line_from_a_keras_checkpoint(self):
        model = DiffusionModel(self.network, self.schedule)
        model.build((None, 2))
        checkpoint = save_model(model, os.path.join(self.tmp, "m.keras"))
        out = os.path.join(self.tmp, "from_cli")
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(export_main([checkpoint, "--out", out]), 0)
        loaded = tf.saved_model.load(out)
        got = loaded.sample(num_samples=tf.constant(20), seed=tf.constant(1, tf.int64))["samples"].numpy()
        self.assertAllEqual(got, DDPMSampler(self.schedule).sample(self.network, (20, 2), seed=1))


    def test_export_never_deletes_what_it_did_not_write(self):
        model = DiffusionModel(self.network, self.schedule)
        model.build((None, 2))
        checkpoint = save_model(model, os.path.join(self.tmp, "keep.keras"))

        def export_cli(out):
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                code = run_cli(export_main, [checkpoint, "--out", out], prog="export")
            return code, err.getvalue()

        users = os.path.join(self.tmp, "users_folder")
        os.makedirs(users)
        with open(os.path.join(users, "thesis.txt"), "w") as handle:
            handle.write("a user's file")
        code, err = export_cli(users)
        self.assertEqual(code, 2, err)
        self.assertRegex(err, "holds files that are not a keras-ddpm export .thesis.txt.")
        self.assertEqual(os.listdir(users), ["thesis.txt"], "the user's file is kept, nothing written beside it")

        a_file = os.path.join(self.tmp, "notes.txt")
        with open(a_file, "w") as handle:
            handle.write("notes")
        code, err = export_cli(a_file)
        self.assertEqual(code, 2, err)
        self.assertIn("it is an existing file", err)
        with open(a_file) as handle:
            self.assertEqual(handle.read(), "notes", "a file named by --out is not replaced by a folder")
        code, err = export_cli(os.path.join(a_file, "under"))
        self.assertEqual(code, 2, err)
        self.assertIn("is a file, not a folder", err)

        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        self.assertEqual(export_cli(empty)[0], 0)
        self.assertIn(MARKER_FILE, os.listdir(empty))
        self.assertEqual(export_cli(empty)[0], 0, "an earlier export is replaced")
        with open(os.path.join(empty, "readme.txt"), "w") as handle:
            handle.write("added by the user")
        self.assertEqual(export_cli(empty)[0], 2, "an export folder the user added a file to is kept")
        self.assertIn("readme.txt", os.listdir(empty))


class ConditionalExportTest(tf.test.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp()
        cls.schedule = NoiseSchedule("linear", T)
        keras.utils.set_random_seed(0)
        cls.network = TinyConditionalImageNet()
        cls.network([np.zeros((1, 4, 4, 3), np.float32), np.zeros(1, np.int32), np.zeros(1, np.int32)])
        cls.path = export_sampler(cls.network, os.path.join(cls.tmp, "sprites"), schedule=cls.schedule,
                                  clip_x0=(-1, 1))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def test_labels_and_guidance(self):
        loaded = tf.saved_model.load(self.path)
        self.assertEqual(int(loaded.info()["num_classes"]), 3)
        labels = np.array([0, 1, 2, 3, 0, 1], np.int32)  # 3 = no class
        sampler = DDPMSampler(self.schedule, clip_x0=(-1, 1))  # exported with clip_x0=(-1, 1)
        for w in (1.0, 0.0, 3.0):
            got = loaded.sample(num_samples=tf.constant(6), seed=tf.constant(2, tf.int64), labels=tf.constant(labels),
                                guidance_scale=tf.constant(w))["samples"].numpy()
            self.assertEqual(got.shape, (6, 4, 4, 3))
            expected = sampler.sample(self.network, (6, 4, 4, 3), seed=2, labels=labels, guidance_scale=w)
            self.assertAllClose(got, expected, atol=1e-5, msg=f"guidance {w}")
        ddim = loaded.sample_ddim(num_samples=tf.constant(6), num_steps=tf.constant(10), eta=tf.constant(0.0),
                                  seed=tf.constant(2, tf.int64), labels=tf.constant(labels),
                                  guidance_scale=tf.constant(2.0))["samples"].numpy()
        expected = DDIMSampler(self.schedule, 10, 0.0, clip_x0=(-1, 1)).sample(
            self.network, (6, 4, 4, 3), seed=2, labels=labels, guidance_scale=2.0)
        self.assertAllClose(ddim, expected, atol=1e-5)
        bad = [(np.array([0, 1, 4, 0, 0, 0], np.int32), "labels must be class ids in 0..3"),
               (np.array([0, 1], np.int32), "labels must hold one class id per sample"),
               (np.array([-1, 0, 0, 0, 0, 0], np.int32), "labels must be class ids")]
        for ids, message in bad:
            with self.assertRaisesRegex(tf.errors.InvalidArgumentError, message):
                loaded.sample(num_samples=tf.constant(6), seed=tf.constant(2, tf.int64), labels=tf.constant(ids),
                              guidance_scale=tf.constant(1.0))

    def test_a_v_predicting_network_is_sampled_as_one(self):
        path = export_sampler(self.network, os.path.join(self.tmp, "sprites_v"), schedule=self.schedule,
                              clip_x0=(-1, 1), prediction="v")
        loaded = tf.saved_model.load(path)
        self.assertEqual(loaded.info()["prediction"].numpy(), b"v")
        self.assertEqual(tf.saved_model.load(self.path).info()["prediction"].numpy(), b"epsilon")
        labels = np.array([0, 1, 2, 0], np.int32)
        got = loaded.sample(num_samples=tf.constant(4), seed=tf.constant(1, tf.int64), labels=tf.constant(labels),
                            guidance_scale=tf.constant(1.0))["samples"].numpy()
        expected = DDPMSampler(self.schedule, clip_x0=(-1, 1), prediction="v").sample(
            self.network, (4, 4, 4, 3), seed=1, labels=labels)
        self.assertAllClose(got, expected, atol=1e-5)
        self.assertNotAllClose(got, DDPMSampler(self.schedule, clip_x0=(-1, 1)).sample(
            self.network, (4, 4, 4, 3), seed=1, labels=labels))

    def test_sample_script_draws_a_grid_for_images(self):
        out = os.path.join(self.tmp, "grid.npy")
        code, stdout, stderr = run_sample_script(self.path, "--n", "7", "--seed", "4", "--labels", "0,2",
                                                 "--guidance-scale", "2", "--out", out)
        self.assertEqual(code, 0, stderr)
        samples = np.load(out)
        expected = DDPMSampler(self.schedule, clip_x0=(-1, 1)).sample(self.network, (7, 4, 4, 3), seed=4,
                                                      labels=np.array([0, 2, 0, 2, 0, 2, 0]), guidance_scale=2.0)
        self.assertAllClose(samples, expected, atol=1e-5)
        self.assertGreater(os.path.getsize(os.path.join(self.tmp, "grid.png")), 0)
        code, _, stderr = run_sample_script(self.path, "--n", "2", "--labels", "5", "--out", out)
        self.assertEqual(code, 2)
        self.assertIn("class ids must be in 0..2 (3 = no class), got [5]", stderr)


class SampleScriptTest(tf.test.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp()
        cls.schedule = NoiseSchedule("linear", T)
        cls.network = mlp(seed=1)
        cls.path = export_sampler(DiffusionModel(cls.network, cls.schedule), os.path.join(cls.tmp, "bicycle"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def test_command_line_run_writes_samples_and_scatter(self):
        out = os.path.join(self.tmp, "run", "samples.npy")
        result = run_script("sample.py", self.path, "--n", "300", "--seed", "4", "--out", out, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        self.assertIn("300 samples (DDPM, 100 steps, seed 4)", result.stdout)
        self.assertAllEqual(np.load(out), DDPMSampler(self.schedule).sample(self.network, (300, 2), seed=4))
        self.assertGreater(os.path.getsize(os.path.join(self.tmp, "run", "samples.png")), 0)
        self.assertEqual([f for f in os.listdir(os.path.dirname(out)) if ".tmp" in f], [])

    def test_ddim_and_partial_diffusion_options(self):
        out = os.path.join(self.tmp, "ddim.npy")
        code, stdout, stderr = run_sample_script(self.path, "--n", "100", "--ddim-steps", "25", "--eta", "0.3",
                                                 "--out", out, "--picture", "none")
        self.assertEqual(code, 0, stderr)
        self.assertIn("DDIM, 25 steps, eta 0.3", stdout)
        self.assertRegex(stdout, r"sampling 100 with DDIM, 25 steps: about [0-9.]+ s \(one step took")
        self.assertRegex(stdout, r"sampling 100 with DDIM: done in [0-9.]+ s")
        expected = DDIMSampler(self.schedule, 25, 0.3).sample(self.network, (100, 2), seed=0)
        self.assertAllEqual(np.load(out), expected)  # the timed step changes nothing
        code, stdout, _ = run_sample_script(self.path, "--n", "100", "--ddim-steps", "25", "--eta", "0.3",
                                            "--out", out, "--picture", "none", "--quiet")
        self.assertNotIn("about", stdout)
        self.assertAllEqual(np.load(out), expected)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "ddim.png")))
        points = os.path.join(self.tmp, "points.npy")
        np.save(points, np.random.default_rng(0).uniform(-1, 1, (40, 2)).astype(np.float32))
        code, stdout, stderr = run_sample_script(self.path, "--from", points, "--t-start", "30", "--out", out)
        self.assertEqual(code, 0, stderr)
        self.assertEqual(np.load(out).shape, (40, 2))

    def test_bad_input_is_one_clear_line(self):
        out = os.path.join(self.tmp, "bad.npy")
        truncated = os.path.join(self.tmp, "truncated")
        shutil.copytree(self.path, truncated)
        pb = os.path.join(truncated, "saved_model.pb")
        with open(pb, "r+b") as handle:
            handle.truncate(os.path.getsize(pb) // 3)
        keras_file = os.path.join(self.tmp, "model.keras")
        open(keras_file, "wb").close()
        not_ours = os.path.join(self.tmp, "not_ours")
        module = tf.Module()
        module.f = tf.function(lambda: tf.constant(1), input_signature=[])
        tf.saved_model.save(module, not_ours)
        cases = [
            ((truncated, "--out", out), "cannot load the SavedModel in .*truncated or corrupt"),
            ((os.path.join(self.tmp, "missing"), "--out", out), "no SavedModel at"),
            ((keras_file, "--out", out), r"is a \.keras checkpoint, not a SavedModel: export it first with "
                                         r"python -m keras_ddpm\.export"),
            ((self.tmp, "--out", out), r"is not a SavedModel \(no saved_model\.pb in it\)"),
            ((not_ours, "--out", out), "not a keras-ddpm sampler export"),
            ((self.path, "--ddim-steps", "0", "--out", out), r"--ddim-steps: expected an integer in 1\.\.2147483647, got 0"),
            ((self.path, "--ddim-steps", str(T + 1), "--out", out), rf"--ddim-steps must be in 1\.\.{T} \(the model's T\)"),
            ((self.path, "--ddim-steps", "5", "--eta", "2", "--out", out), r"\(got eta = 2\)"),
            ((self.path, "--labels", "1", "--out", out), "this model is not class-conditional"),
            ((self.path, "--eta", "0.5", "--out", out), "--eta needs --ddim-steps"),
            ((self.path, "--out", os.path.join(self.tmp, "x.txt")), "--out must be a .npy file"),
            ((self.path, "--n", "0", "--out", out), "--n: expected an integer in 1..2147483647, got 0"),
        ]
        for argv, message in cases:
            with self.subTest(argv=argv):
                code, _, stderr = run_sample_script(*argv)
                self.assertEqual(code, 2)
                lines = stderr.strip().splitlines()
                self.assertLen(lines, 1, stderr)
                self.assertRegex(lines[0], "^sample.py: error: " + ".*" + message)
        self.assertFalse(os.path.exists(out))
