"""MirroredStrategy over two logical CPU devices trains like one device on the same global batch.

Logical devices must be configured before TensorFlow initialises, so the runs happen in a fresh
subprocess (`TWO_DEVICE_SCRIPT`) that prints its measurements as one JSON line.
"""

import json
import os
import subprocess
import sys
import textwrap

import tensorflow as tf
from helpers import BICYCLE, ROOT

from keras_ddpm.training.distribute import (
    STRATEGIES,
    check_global_batch_size,
    describe,
    make_strategy,
    split_cpu,
    steps_per_execution_for,
)

TWO_DEVICE_SCRIPT = textwrap.dedent(
    r"""
    import json, sys
    import keras_ddpm  # noqa: F401  (TensorFlow settings first)
    import tensorflow as tf

    from keras_ddpm.training.distribute import split_cpu

    split_cpu(2)  # before TensorFlow initialises its devices

    import keras
    import numpy as np
    from keras_ddpm import DenoisingMLP, DiffusionModel, NoiseSchedule
    from keras_ddpm.data import load_points, make_dataset, split_points
    from keras_ddpm.training.distribute import check_global_batch_size, describe, make_strategy, steps_per_execution_for

    BATCH, BIG_BATCH, EPOCHS = 64, 8192, 3
    schedule = NoiseSchedule("linear", 100)
    train_points, held_out = split_points(load_points(sys.argv[1]), 0.05, seed=0)
    train_points = train_points[:6400]
    rng = np.random.default_rng(1)  # a fixed evaluation: the same x0, t and eps for every model
    eval_x0 = held_out[:2048]
    eval_t = rng.integers(0, schedule.timesteps, len(eval_x0)).astype("int32")
    eval_eps = rng.standard_normal(eval_x0.shape).astype("float32")

    def build(strategy, optimizer):
        keras.utils.set_random_seed(0)  # the same initial weights for both runs
        with strategy.scope():
            model = DiffusionModel(DenoisingMLP(), schedule, seed=0)
            model.compile(optimizer=optimizer(), steps_per_execution=steps_per_execution_for(strategy, 25))
            model.build((None, 2))
            model.network([np.zeros((1, 2), "float32"), np.zeros(1, "int32")])  # build every sublayer
        return model

    def eval_loss(model):
        return float(np.mean(model.per_example_loss(eval_x0, eval_t, eval_eps)))

    def weights(model):
        return np.concatenate([np.ravel(w) for w in model.network.get_weights()])

    single, mirrored = make_strategy("default"), make_strategy("mirrored")
    result = {"replicas": mirrored.num_replicas_in_sync, "describe": describe(mirrored, BATCH),
              "steps_per_execution": [steps_per_execution_for(s, 25) for s in (single, mirrored)]}
    check_global_batch_size(BATCH, mirrored)

    # 1. One plain SGD step on one big global batch: the update is the global-mean gradient
    #    (a replica that summed instead of averaging would take a step twice as long).
    big = make_dataset(train_points[:BIG_BATCH] if len(train_points) >= BIG_BATCH else
                       np.concatenate([train_points] * 2)[:BIG_BATCH], BIG_BATCH, seed=0)
    deltas = []
    for strategy in (single, mirrored):
        model = build(strategy, lambda: keras.optimizers.SGD(0.05))
        before = weights(model)
        model.fit(big, epochs=1, verbose=0)
        deltas.append(weights(model) - before)
        result.setdefault("initial_weights", []).append(float(np.sum(before)))
    result["step_norm_ratio"] = float(np.linalg.norm(deltas[1]) / np.linalg.norm(deltas[0]))
    result["step_cosine"] = float(deltas[0] @ deltas[1] / np.linalg.norm(deltas[0]) / np.linalg.norm(deltas[1]))

    # 2. A few epochs of Adam at the same global batch: both lower the held-out loss alike.
    data = make_dataset(train_points, BATCH, seed=0)
    for label, strategy in (("single", single), ("mirrored", mirrored)):
        model = build(strategy, lambda: keras.optimizers.Adam(1e-3))
        start = eval_loss(model)
        history = model.fit(data, epochs=EPOCHS, verbose=0)
        result[label] = {"eval_before": start, "eval_after": eval_loss(model),
                         "train_loss": [float(v) for v in history.history["loss"]]}
    print("RESULT " + json.dumps(result))
    """
)


class MakeStrategyTest(tf.test.TestCase):
    def test_default_and_bad_names(self):
        strategy = make_strategy("default")
        self.assertEqual(strategy.num_replicas_in_sync, 1)
        self.assertEqual(check_global_batch_size(64, strategy), 64)
        self.assertIn("1 replica", describe(strategy, 64))
        self.assertEqual(steps_per_execution_for(strategy, 100), 100)
        self.assertEqual(steps_per_execution_for(make_strategy("mirrored"), 100), 1)
        self.assertEqual(STRATEGIES, ("default", "mirrored", "multiworker", "tpu"))
        with self.assertRaisesRegex(ValueError, "unknown strategy 'horovod'; expected one of default, mirrored"):
            make_strategy("horovod")

    def test_mirrored_on_one_device_and_batch_check(self):
        strategy = make_strategy("mirrored")  # this process has one CPU device and no GPU
        self.assertEqual(strategy.num_replicas_in_sync, len(tf.config.list_logical_devices("GPU")) or 1)
        one = make_strategy("mirrored", devices=["/cpu:0"])
        self.assertEqual(check_global_batch_size(63, one), 63)

        class TwoReplicas:  # stands in for a 2-device strategy, which this process cannot make
            num_replicas_in_sync = 2

        self.assertEqual(check_global_batch_size(64, TwoReplicas()), 32)
        with self.assertRaisesRegex(ValueError, "global batch, split over 2 replicas: 63 is not a multiple of 2"):
            check_global_batch_size(63, TwoReplicas())

    def test_split_cpu_after_initialisation_is_a_clear_error(self):
        tf.constant(1.0)  # devices are initialised by now
        with self.assertRaisesRegex(ValueError, "cannot split the CPU: TensorFlow's devices are already initialised"):
            split_cpu(2)
        with self.assertRaisesRegex(ValueError, "number of CPU devices must be an integer >= 1, got 0"):
            split_cpu(0)

    def test_tpu_without_a_tpu_is_a_clear_error(self):
        with self.assertRaisesRegex(ValueError, "--strategy tpu: cannot reach"):
            make_strategy("tpu", tpu="")  # no TPU here: fails at once


class TwoDeviceTrainingTest(tf.test.TestCase):
    def test_mirrored_two_cpus_trains_like_one_device(self):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
        run = subprocess.run(
            [sys.executable, "-c", TWO_DEVICE_SCRIPT, BICYCLE], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=240,
        )
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        line = [x for x in run.stdout.splitlines() if x.startswith("RESULT ")][-1]
        result = json.loads(line[len("RESULT "):])
        print(json.dumps(result, indent=1))  # shown with pytest -s: the numbers of the closing note
        self.assertEqual(result["replicas"], 2)
        self.assertIn("global batch 64 = 2 x 32 per replica", result["describe"])
        self.assertEqual(result["steps_per_execution"], [25, 1])
        self.assertEqual(result["initial_weights"][0], result["initial_weights"][1])
        # The same size and direction of update as one device on the whole batch (x2 if the
        # replicas' gradients were summed without the 1/N scaling).
        self.assertBetween(result["step_norm_ratio"], 0.85, 1.15)
        self.assertGreater(result["step_cosine"], 0.9)
        single, mirrored = result["single"], result["mirrored"]
        for run_result in (single, mirrored):
            self.assertLess(run_result["eval_after"], 0.8 * run_result["eval_before"])
            self.assertLess(run_result["train_loss"][-1], run_result["train_loss"][0])
        self.assertAllClose(mirrored["eval_before"], single["eval_before"], rtol=1e-5)
        self.assertBetween(mirrored["eval_after"] / single["eval_after"], 0.85, 1.15)
