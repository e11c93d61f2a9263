"""`keras_ddpm._env`: the process-wide TensorFlow/XLA settings applied before TensorFlow loads."""

import os
import subprocess
import sys

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOW = "import keras_ddpm._env, os; print(os.environ['XLA_FLAGS']); print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"


def settings(**env):
    base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "TF_ENABLE_ONEDNN_OPTS")}
    out = subprocess.run([sys.executable, "-c", SHOW], env={**base, **env, "PYTHONPATH": ROOT},
                         capture_output=True, text=True, check=True).stdout.split("\n")
    return out[0], out[1]


class EnvTest(tf.test.TestCase):
    def test_ynn_fusion_is_added_to_xla_flags_unless_the_user_chose(self):
        self.assertEqual(settings(), ("--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce", "0"))
        self.assertEqual(settings(XLA_FLAGS="--xla_dump_to=/tmp/x"),
                         ("--xla_dump_to=/tmp/x --xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce", "0"))
        self.assertEqual(settings(XLA_FLAGS="--xla_cpu_experimental_ynn_fusion_type=", TF_ENABLE_ONEDNN_OPTS="1"),
                         ("--xla_cpu_experimental_ynn_fusion_type=", "1"))
