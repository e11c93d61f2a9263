"""`--strategy multiworker` with two real worker processes on localhost.

Two `train_bicycle.py` processes, each with its own ``TF_CONFIG`` (one cluster of two workers on
two free ports of 127.0.0.1), train the assignment's network with
`tf.distribute.MultiWorkerMirroredStrategy` on the CPU into the same ``--out``; a third process
trains the same run on one device (``--strategy default``). The test checks that

* both workers exit 0 (the second worker is not refused by the run lock of the shared ``--out``);
* only the chief (worker 0) writes the run: checkpoints, model, ``--save-model`` copy, SavedModel,
  report; the other worker's scratch folder (`keras_ddpm.training.distribute.worker_dir`) is gone
  and it printed no report;
* the per-epoch loss of the two-worker run equals the one-device loss on the same global batch
  and seed within ``LOSS_RTOL``.

Why the losses can be compared that closely: each worker builds the same data pipeline (same
seed) and keeps its replica's half of every global batch (``DATA`` sharding), and each replica
keeps its rows of the t and eps drawn for the whole global batch
(`keras_ddpm.training.diffusion_model`), so both runs take the same updates from the same initial
weights. What differs is floating-point rounding: the gradient is the sum of two half-batch means
(an all-reduce) instead of one mean over the batch, about 1e-7 relative per step; over 24 Adam steps
that stays below 1e-5 in the losses measured (`LOSS_RTOL` = 1e-4 leaves a margin of 10). A replica
that drew its own t and eps, or a worker that trained on the whole batch, shows up as a
difference of about 1e-2 and more.
"""

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import tensorflow as tf
from helpers import BICYCLE, ROOT

TIMEOUT = 150  # seconds for all three processes; ~40 s expected on 2 cores
LOSS_RTOL = 1e-4
EPOCHS = 3
COMMON = ["--preset", "assignment", "--data", BICYCLE, "--subset", "512", "--timesteps", "20",
          "--epochs", str(EPOCHS), "--batch-size", "64", "--seed", "3", "--validation-fraction", "0",
          "--num-samples", "100", "--plot-samples", "50", "--gif-frames", "2", "--study-samples", "0",
          "--checkpoint-every", "2", "--plot-every", "3", "--no-tensorboard", "--verbose", "0"]


def free_ports(count):
    """``count`` distinct ports that are free on 127.0.0.1 now (bound together, then released)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def read_losses(path):
    with open(path, newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


class TwoWorkerTrainingTest(tf.test.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="multiworker_")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def start(self, out, strategy, tf_config=None, name="", extra=()):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
        env.pop("TF_CONFIG", None)
        env.pop("KERAS_DDPM_DEBUG", None)
        if tf_config is not None:
            env["TF_CONFIG"] = json.dumps(tf_config)
        log = open(os.path.join(self.tmp, f"{name}.log"), "w+")
        self.addCleanup(log.close)
        command = [sys.executable, "train_bicycle.py", *COMMON, "--strategy", strategy, "--out", out,
                   "--save-model", os.path.join(out + "_saved", "bicycle.keras"), *extra]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        return process, log

    def test_two_workers_write_once_and_train_like_one_device(self):
        started = time.time()
        cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
        out, single_out = os.path.join(self.tmp, "run"), os.path.join(self.tmp, "single")
        runs = {
            "chief": self.start(out, "multiworker", {"cluster": cluster, "task": {"type": "worker", "index": 0}},
                                "chief"),
            "worker": self.start(out, "multiworker", {"cluster": cluster, "task": {"type": "worker", "index": 1}},
                                 "worker"),
            # One device, one unfused step per batch: fused steps run under XLA, which draws other
            # numbers for the same seed. Only its losses are compared: no model files.
            "single": self.start(single_out, "default", name="single",
                                 extra=["--fused-steps", "1", "--save-model", "none"]),
        }
        logs = {}
        try:
            deadline = time.time() + TIMEOUT
            for name, (process, log) in runs.items():
                process.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            pass
        finally:
            for name, (process, log) in runs.items():
                if process.poll() is None:  # a hung collective must not outlive the test
                    process.kill()
                    process.wait()
                log.seek(0)
                logs[name] = log.read()
        seconds = time.time() - started
        for name, (process, _) in runs.items():
            self.assertEqual(process.returncode, 0, f"{name} exited {process.returncode}:\n{logs[name][-3000:]}")

        # The chief wrote the run; the other worker wrote nothing that is left, and no report.
        self.assertIn("MultiWorkerMirroredStrategy (task worker 0 of 2 workers), 2 replicas", logs["chief"])
        self.assertIn("MultiWorkerMirroredStrategy (task worker 1 of 2 workers), 2 replicas", logs["worker"])
        self.assertIn("global batch 64 = 2 x 32 per replica", logs["chief"])
        for name in ("model.keras", "loss.csv", "summary.json", "REPORT.md", "samples.npy", "data.png",
                     "samples/samples_epoch_0003.png",
                     "checkpoints/epoch_0002.keras", "checkpoints/epoch_0003.keras", "checkpoints/checkpoints.csv"):
            self.assertTrue(os.path.exists(os.path.join(out, name)), name)
        self.assertTrue(os.path.exists(os.path.join(out + "_saved", "bicycle.keras")))
        self.assertTrue(os.path.exists(os.path.join(out + "_saved", "bicycle", "saved_model.pb")))
        self.assertEqual(sorted(os.listdir(os.path.join(out, "checkpoints"))),
                         ["checkpoints.csv", "epoch_0002.keras", "epoch_0003.keras"])
        self.assertEqual([n for n in os.listdir(out) if n.startswith(".worker")], [])
        self.assertNotIn("backup", os.listdir(out))  # the finished run's resume state is gone
        self.assertIn("REPORT.md", logs["chief"])
        self.assertNotIn("REPORT.md", logs["worker"])
        self.assertEqual(len(read_losses(os.path.join(out, "loss.csv"))), EPOCHS)  # one row per epoch, one writer
        with open(os.path.join(out, "summary.json")) as handle:
            self.assertEqual(json.load(handle)["epochs_trained"], EPOCHS)

        # The same losses as one device on the same global batch and seed.
        two, one = read_losses(os.path.join(out, "loss.csv")), read_losses(os.path.join(single_out, "loss.csv"))
        difference = max(abs(a - b) / abs(b) for a, b in zip(two, one))
        print(f"\ntwo workers {two}\none device  {one}\nlargest relative difference {difference:.2e}; "
              f"{seconds:.1f} s")
        self.assertLess(two[-1], two[0])
        self.assertAllClose(two, one, rtol=LOSS_RTOL, atol=0)
