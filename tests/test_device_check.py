"""`python -m benchmarks.device_check` runs end to end on a CPU-only machine.

With ``--seconds 0.5``, XLA off and small sampling batches it reports the devices TensorFlow sees,
trains and samples both models (the bicycle's improved-preset network, the sprite UNet of the
cpu preset) on the shared data, and writes every number to its JSON; ~30 s on 2 cores, most of it
compiling. The GPU numbers need a GPU machine (docs: README, "Install").
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import tensorflow as tf
from helpers import BICYCLE, ROOT

SPRITES = os.environ.get("KERAS_DDPM_SPRITES", os.path.join(os.path.dirname(BICYCLE), "sprites"))


class DeviceCheckTest(tf.test.TestCase):
    def test_cpu_smoke_run(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        out = os.path.join(folder, "device_check.json")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
        run = subprocess.run(
            [sys.executable, "-m", "benchmarks.device_check", "--seconds", "0.5", "--no-jit",
             "--bicycle-samples", "500", "--sprite-samples", "8", "--bicycle", BICYCLE, "--sprites", SPRITES,
             "--out", out],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
        )
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        print(run.stdout)  # shown with pytest -s
        with open(out) as handle:
            result = json.load(handle)
        devices = result["devices"]
        self.assertIn("CPU", [d["type"] for d in devices["physical_devices"]])
        self.assertEqual(devices["tensorflow"], tf.__version__)
        if devices["gpus"] == 0:
            self.assertIn("no GPU visible to TensorFlow", run.stdout)
        self.assertEqual(result["settings"], {"seconds": 0.5, "mixed_precision": "none", "jit": False})
        for model, unit in (("bicycle", "points"), ("sprites", "images")):
            self.assertGreater(result[model]["train"]["examples_per_s"], 0)
            self.assertGreater(result[model]["train"]["steps"], 0)
            for sampler, steps in (("ddpm", 1000 if model == "bicycle" else 500), ("ddim", 50)):
                measured = result[model][sampler]
                self.assertEqual(measured["steps"], steps)
                self.assertGreater(measured["samples_per_s"], 0)
                self.assertBetween(measured["timed_steps"], 1, steps)
            self.assertIn(f"{unit}/s", run.stdout)
        self.assertEqual(result["bicycle"]["network"], "ResidualMLP")
        self.assertEqual(result["sprites"]["network"], "UNet")
        self.assertIn("DDPM-1000", run.stdout)
        self.assertIn("DDIM-50", run.stdout)
