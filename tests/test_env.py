"""`keras_ddpm_env`: importing keras_ddpm changes no process-wide setting; the CPU tuning is an
explicit opt-in (`tune_cpu`) that must run before TensorFlow is imported."""

import os
import subprocess
import sys
import unittest.mock

import tensorflow as tf

import keras_ddpm_env
from keras_ddpm_env import cpu_settings, tune_cpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YNN = "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce"


def fresh(code, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "TF_ENABLE_ONEDNN_OPTS")}
    return subprocess.run([sys.executable, "-c", code], env={**base, "PYTHONPATH": ROOT, **env},
                          capture_output=True, text=True, check=True, timeout=120)


class EnvTest(tf.test.TestCase):
    def test_the_settings_keep_what_the_user_chose(self):
        self.assertEqual(cpu_settings({}), {"TF_ENABLE_ONEDNN_OPTS": "0", "XLA_FLAGS": YNN})
        self.assertEqual(cpu_settings({"XLA_FLAGS": "--xla_dump_to=/tmp/x"}),
                         {"TF_ENABLE_ONEDNN_OPTS": "0", "XLA_FLAGS": f"--xla_dump_to=/tmp/x {YNN}"})
        self.assertEqual(cpu_settings({"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=",
                                       "TF_ENABLE_ONEDNN_OPTS": "1"}), {})

    def test_importing_keras_ddpm_changes_nothing_and_tune_cpu_reaches_tensorflow(self):
        show = ("import os, sys; {before} import keras_ddpm; "
                "print(os.environ.get('XLA_FLAGS')); print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))")
        plain = fresh(show.format(before=""), TF_CPP_MIN_LOG_LEVEL="0")
        self.assertEqual(plain.stdout.split("\n")[:2], ["None", "None"])
        self.assertIn("oneDNN custom operations are on", plain.stderr)
        tuned = fresh(show.format(before="import keras_ddpm_env; print(keras_ddpm_env.tune_cpu());"),
                      TF_CPP_MIN_LOG_LEVEL="0")
        self.assertEqual(tuned.stdout.split("\n")[:3],
                         [str({"TF_ENABLE_ONEDNN_OPTS": "0", "XLA_FLAGS": YNN}), YNN, "0"])
        self.assertNotIn("oneDNN custom operations are on", tuned.stderr)

    def test_too_late_it_warns_and_changes_nothing(self):
        with unittest.mock.patch.dict(os.environ, {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}):
            os.environ.pop("TF_ENABLE_ONEDNN_OPTS", None)
            with self.assertWarnsRegex(RuntimeWarning, "tune_cpu\\(\\) has no effect: TensorFlow is already imported"):
                self.assertEqual(tune_cpu(), {})
            self.assertEqual(os.environ["XLA_FLAGS"], "--xla_dump_to=/tmp/x")
            self.assertNotIn("TF_ENABLE_ONEDNN_OPTS", os.environ)
        with unittest.mock.patch.dict(os.environ, keras_ddpm_env.cpu_settings()):
            self.assertEqual(tune_cpu(), {})  # already in place: nothing to say
