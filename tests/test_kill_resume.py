"""Training survives SIGKILL; damaged checkpoints and backups fail with one clear message; NaN stops cleanly."""

import contextlib
import csv
import glob
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from helpers import BICYCLE, ROOT

from keras_ddpm import DenoisingMLP, DiffusionModel, NoiseSchedule
from keras_ddpm.training.callbacks import (
    AtomicBackupAndRestore,
    PeriodicCheckpoint,
    StopOnNaN,
    TrainingDiverged,
    read_loss_csv,
)
from keras_ddpm.training.checkpoints import (
    check_backup,
    check_checkpoint,
    latest_checkpoint,
    load_checkpoint,
)
from keras_ddpm.training.loop import TrainConfig, finish_run, train, training_complete
from keras_ddpm.utils.io import save_model

EPOCHS = 20  # ~0.1 s each: the kill after epoch 3 has a wide margin before the run ends
CHECKPOINT_EVERY = 5


def train_command(out):
    return [
        sys.executable, "train_bicycle.py", "--data", BICYCLE, "--out", out, "--epochs", str(EPOCHS),
        "--subset", "2000", "--timesteps", "100", "--checkpoint-every", str(CHECKPOINT_EVERY),
        "--plot-every", "1000", "--num-samples", "200", "--gif-frames", "2", "--save-model", "none",
        "--verbose", "2", "--seed", "0", "--validation-fraction", "0", "--study-samples", "0",
        "--no-tensorboard",
    ]


def epochs_logged(csv_path):
    if not os.path.exists(csv_path):
        return 0
    with open(csv_path) as handle:
        return max(0, len(handle.read().strip().splitlines()) - 1)


def tiny_model(schedule):
    keras.utils.set_random_seed(0)
    model = DiffusionModel(DenoisingMLP(hidden_units=(16,), embedding_units=16), schedule, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=4)
    model.build((None, 2))
    model.network([np.zeros((1, 2), np.float32), np.zeros(1, np.int32)])
    return model


def tiny_data():
    points = np.random.default_rng(0).uniform(-1, 1, (256, 2)).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices(points).batch(32)


class KillAndResumeTest(tf.test.TestCase):
    def test_sigkill_mid_run_then_the_same_command_finishes_every_epoch(self):
        out = tempfile.mkdtemp()
        command = train_command(out)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        env.pop("KERAS_DDPM_DEBUG", None)
        csv_path = os.path.join(out, "loss.csv")
        log = open(os.path.join(out, "first_run.log"), "w+")
        first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 180
            while epochs_logged(csv_path) < 3 and first.poll() is None and time.time() < deadline:
                time.sleep(0.01)
            running = first.poll() is None
            first.send_signal(signal.SIGKILL)
        finally:
            first.kill()
            first.wait()
            log.seek(0)
            output = log.read()
            log.close()
        self.assertTrue(running, "the run ended before it could be killed:\n" + output[-2000:])
        self.assertEqual(first.returncode, -signal.SIGKILL)
        killed_at = epochs_logged(csv_path)
        self.assertBetween(killed_at, 3, EPOCHS - 1)
        self.assertTrue(os.path.isdir(os.path.join(out, "backup")), "the killed run left its resume backup")
        print(f"killed with SIGKILL after {killed_at} of {EPOCHS} epochs in loss.csv")

        second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        self.assertEqual(second.returncode, 0, second.stderr[-3000:])
        first_epoch = int(re.search(r"^Epoch (\d+)/%d" % EPOCHS, second.stdout, re.M).group(1))
        print(f"the restarted run began at epoch {first_epoch} of {EPOCHS}")
        self.assertBetween(first_epoch, killed_at, killed_at + 1, "resumed from the last completed epoch")

        with open(csv_path, newline="") as handle:  # the file itself, not a reader that merges repeats
            logged = [int(row["epoch"]) for row in csv.DictReader(handle)]
        self.assertEqual(logged, list(range(EPOCHS)), "loss.csv holds every epoch exactly once, in order")
        epochs, columns = read_loss_csv(csv_path)
        self.assertAllEqual(epochs, np.arange(1, EPOCHS + 1))
        self.assertTrue(np.all(np.isfinite(columns["loss"])))
        self.assertFalse(os.path.exists(os.path.join(out, "backup")), "a finished run removes its backup")

        # Every checkpoint loads, and the optimizer's step count grows with the epoch number across
        # the kill: the resumed run restored the optimizer state instead of starting it over.
        paths = sorted(glob.glob(os.path.join(out, "checkpoints", "epoch_*.keras")))
        self.assertEqual([os.path.basename(p) for p in paths],
                         [f"epoch_{e:04d}.keras" for e in range(CHECKPOINT_EVERY, EPOCHS + 1, CHECKPOINT_EVERY)])
        final = load_checkpoint(os.path.join(out, "model.keras"))
        steps_per_epoch = int(final.optimizer.iterations.numpy()) // EPOCHS
        self.assertGreater(steps_per_epoch, 0)
        for path in paths:
            epoch = int(re.search(r"(\d+)\.keras$", path).group(1))
            self.assertEqual(int(load_checkpoint(path).optimizer.iterations.numpy()), epoch * steps_per_epoch, path)
        shutil.rmtree(out)


class CheckpointFileTest(tf.test.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.model = tiny_model(NoiseSchedule("linear", 20))
        self.model.fit(tiny_data(), epochs=1, verbose=0)  # a trained optimizer state is saved too
        self.good = save_model(self.model, os.path.join(self.tmp, "epoch_0001.keras"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def damaged_copy(self, name, damage):
        path = os.path.join(self.tmp, name)
        shutil.copyfile(self.good, path)
        damage(path)
        return path

    def test_good_checkpoint_loads(self):
        model = load_checkpoint(self.good)
        self.assertIsInstance(model, DiffusionModel)
        for a, b in zip(model.network.get_weights(), self.model.network.get_weights()):
            self.assertAllEqual(a, b)
        self.assertEqual(int(model.optimizer.iterations.numpy()), 8)

    def test_damaged_checkpoints_give_one_clear_error(self):
        def truncate(path):
            with open(path, "r+b") as handle:
                handle.truncate(os.path.getsize(path) // 2)

        def flip_bytes(path):  # invert bytes inside the weights member: a CRC mismatch
            with open(path, "r+b") as handle:
                handle.seek(os.path.getsize(path) // 2)
                chunk = handle.read(64)
                handle.seek(os.path.getsize(path) // 2)
                handle.write(bytes(b ^ 0xFF for b in chunk))

        def empty(path):
            open(path, "wb").close()

        def text(path):
            with open(path, "w") as handle:
                handle.write("not a model")

        cases = [
            (self.damaged_copy("epoch_0002.keras", truncate), "truncated or not a .keras file"),
            (self.damaged_copy("epoch_0003.keras", flip_bytes), "is corrupt"),
            (self.damaged_copy("epoch_0004.keras", empty), r"is empty \(0 bytes\)"),
            (self.damaged_copy("epoch_0005.keras", text), "truncated or not a .keras file"),
            (self.tmp, "is a folder; expected a .keras file"),
        ]
        for path, message in cases:
            with self.subTest(path=os.path.basename(path)):
                with self.assertRaisesRegex(ValueError, "checkpoint .*" + message) as caught:
                    load_checkpoint(path)
                self.assertNotIn("\n", str(caught.exception))
        with self.assertRaisesRegex(FileNotFoundError, "checkpoint not found: .*missing.keras"):
            check_checkpoint(os.path.join(self.tmp, "missing.keras"))
        # The newest *sound* checkpoint is epoch 1: the damaged epochs 2..5 are skipped.
        self.assertEqual(latest_checkpoint(self.tmp), self.good)


class BackupFolderTest(tf.test.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.backup = os.path.join(self.tmp, "backup")
        self.model = tiny_model(NoiseSchedule("linear", 20))
        backup = AtomicBackupAndRestore(self.backup, delete_checkpoint=False)
        self.model.fit(tiny_data(), epochs=3, callbacks=[backup], verbose=0)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def corrupt(self, name):
        with open(os.path.join(self.backup, name), "r+b") as handle:
            handle.truncate(100)

    def test_sound_backup_and_no_backup(self):
        self.assertEqual(check_backup(self.backup), 3)
        self.assertIsNone(check_backup(os.path.join(self.tmp, "none")))

    def test_damaged_latest_state_falls_back_to_the_previous_epoch(self):
        self.corrupt("latest.weights.h5")
        self.assertEqual(check_backup(self.backup), 2)
        self.assertEqual(check_backup(self.backup), 2, "repaired in place: the latest state is now epoch 2")
        with open(os.path.join(self.backup, "training_metadata.json")) as handle:
            self.assertEqual(json.load(handle)["epoch"], 2)
        # Keras' own callback resumes from the repaired folder (at epoch 2) without complaint.
        model = tiny_model(NoiseSchedule("linear", 20))
        history = model.fit(tiny_data(), epochs=3, verbose=0, callbacks=[
            keras.callbacks.BackupAndRestore(self.backup, double_checkpoint=True)])
        self.assertLen(history.history["loss"], 1)

    def test_atomic_backup_repairs_before_restoring_and_is_never_torn(self):
        with open(os.path.join(self.backup, "training_metadata.json"), "w") as handle:
            handle.write('{"epo')  # a torn JSON file: Keras' own fallback does not catch this one
        model = tiny_model(NoiseSchedule("linear", 20))
        history = model.fit(tiny_data(), epochs=4, verbose=0, callbacks=[
            AtomicBackupAndRestore(self.backup, delete_checkpoint=False)])
        self.assertLen(history.history["loss"], 2, "resumed after epoch 2, the previous sound state")
        self.assertEqual(check_backup(self.backup), 4)
        # A save that dies half way (here: an exception while the weights file is being written)
        # leaves the previous complete state in place.
        with open(os.path.join(self.backup, "latest.weights.h5"), "rb") as handle:
            before = handle.read()
        callback = AtomicBackupAndRestore(self.backup)
        callback.set_model(model)
        callback._current_epoch = 5

        def dies_while_writing(filepath, overwrite=True):
            with open(filepath, "wb") as handle:
                handle.write(b"half a file")
            raise KeyboardInterrupt

        model.save_weights = dies_while_writing
        with self.assertRaises(KeyboardInterrupt):
            callback._save_model()
        with open(os.path.join(self.backup, "latest.weights.h5"), "rb") as handle:
            self.assertEqual(handle.read(), before)
        self.assertEqual(check_backup(self.backup), 4)
        self.assertEqual([f for f in os.listdir(self.backup) if f.startswith(".")], [])

    def test_unusable_backup_is_one_clear_error(self):
        self.corrupt("latest.weights.h5")
        self.corrupt("latest.weights.h5.bkp")
        with self.assertRaisesRegex(ValueError, r"cannot resume: the backup in .*backup is damaged \(latest\.weights\.h5: "
                                                r"unreadable HDF5.*delete that folder or pass --no-resume") as caught:
            check_backup(self.backup)
        self.assertNotIn("\n", str(caught.exception))
        with open(os.path.join(self.backup, "training_metadata.json"), "w") as handle:
            handle.write("{")
        with self.assertRaisesRegex(ValueError, r"training_metadata\.json: unreadable"):
            check_backup(self.backup)


class FirstBackupCutOffTest(tf.test.TestCase):
    """A kill while the very first state was written: nothing earlier to keep, so the run starts over."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.backup = os.path.join(self.tmp, "backup")
        os.makedirs(self.backup)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check(self):
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            self.assertIsNone(check_backup(self.backup))
        return stderr.getvalue()

    def test_weights_renamed_in_place_but_no_epoch_recorded(self):
        with open(os.path.join(self.backup, "latest.weights.h5"), "wb") as handle:
            handle.write(b"\x89HDF\r\n\x1a\n half a file")
        with open(os.path.join(self.backup, ".tmp-4242.weights.h5"), "wb") as handle:
            handle.write(b"half")
        lines = self.check().strip().splitlines()
        self.assertLen(lines, 1)
        self.assertRegex(lines[0], r"^warning: the resume backup in .*backup was cut off while its first epoch was "
                                   r"saved .*; starting over from epoch 1$")
        self.assertFalse(os.path.exists(self.backup))

    def test_only_the_temporary_weights_file(self):
        with open(os.path.join(self.backup, ".tmp-4242.weights.h5"), "wb") as handle:
            handle.write(b"half")
        self.assertEqual(self.check(), "")  # nothing had been saved: nothing to say
        self.assertEqual(os.listdir(self.backup), [])


class TrainLoopAfterTrainingTest(tf.test.TestCase):
    """`train(keep_backup=True)`: a kill after training (export, sampling, report) retrains nothing."""

    def setUp(self):
        self.out = tempfile.mkdtemp()
        self.config = TrainConfig(epochs=3, checkpoint_every=1, plot_every=100, verbose=0)

    def tearDown(self):
        shutil.rmtree(self.out, ignore_errors=True)

    def test_the_same_call_again_restores_the_final_state_and_trains_no_epoch(self):
        first = tiny_model(NoiseSchedule("linear", 20))
        history = train(first, tiny_data(), self.out, self.config, keep_backup=True)
        self.assertLen(history.history["loss"], 3)
        self.assertEqual(training_complete(self.out), 3)
        # What a kill during atomic writes leaves, and a user's own hidden file that must stay.
        leftovers = [os.path.join(self.out, ".loss.k2j4h5g6.tmp.csv"),
                     os.path.join(self.out, "checkpoints", ".epoch_0002.abcd_123.tmp.keras")]
        for path in leftovers + [os.path.join(self.out, ".notes.txt")]:
            with open(path, "w") as handle:
                handle.write("x")
        # The run is killed here (say, while exporting); the same command builds a fresh model.
        second = tiny_model(NoiseSchedule("linear", 20))
        second.fit(tiny_data(), epochs=1, verbose=0)  # other weights than the trained ones
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            history = train(second, tiny_data(), self.out, self.config, keep_backup=True)
        self.assertEqual(history.history.get("loss", []), [], "no epoch was trained again")
        self.assertIn("is complete (3 epochs): restoring its final state", stdout.getvalue())
        for a, b in zip(second.get_weights(), first.get_weights()):
            self.assertAllEqual(a, b)
        self.assertEqual(int(second.optimizer.iterations.numpy()), int(first.optimizer.iterations.numpy()))
        self.assertEqual(epochs_logged(os.path.join(self.out, "loss.csv")), 3)
        self.assertEqual([p for p in leftovers if os.path.exists(p)], [], "the temporary files are removed")
        self.assertTrue(os.path.exists(os.path.join(self.out, ".notes.txt")))
        finish_run(self.out)
        self.assertFalse(os.path.exists(os.path.join(self.out, "backup")))
        self.assertIsNone(training_complete(self.out))

    def test_divergence_in_a_reused_folder_never_names_an_earlier_runs_checkpoint(self):
        earlier = tiny_model(NoiseSchedule("linear", 20))
        save_model(earlier, os.path.join(self.out, "checkpoints", "epoch_0010.keras"))  # another run's
        model = tiny_model(NoiseSchedule("linear", 20))

        def poison(epoch, logs):
            for variable in model.network.trainable_variables:
                variable.assign(np.full(variable.shape, np.nan, np.float32))

        with self.assertRaisesRegex(TrainingDiverged, "no checkpoint of this run had been saved yet") as caught:
            train(model, tiny_data(), self.out, self.config,
                  extra_callbacks=[keras.callbacks.LambdaCallback(on_epoch_begin=poison)])
        self.assertNotIn("epoch_0010", str(caught.exception))
        self.assertTrue(os.path.exists(os.path.join(self.out, "checkpoints", "epoch_0010.keras")), "kept")


class StopOnNaNTest(tf.test.TestCase):
    def test_divergence_stops_before_saving_and_names_the_last_good_checkpoint(self):
        tmp = tempfile.mkdtemp()
        model = tiny_model(NoiseSchedule("linear", 20))
        checkpoints = os.path.join(tmp, "checkpoints")
        backup = os.path.join(tmp, "backup")

        def poison(epoch, logs):
            if epoch == 2:  # the third epoch diverges: NaN weights give a NaN loss
                for variable in model.network.trainable_variables:
                    variable.assign(np.full(variable.shape, np.nan, np.float32))

        callbacks = [
            StopOnNaN(checkpoints),
            keras.callbacks.LambdaCallback(on_epoch_begin=poison),
            PeriodicCheckpoint(checkpoints, 1),
            keras.callbacks.BackupAndRestore(backup, double_checkpoint=True),
        ]
        with self.assertRaisesRegex(TrainingDiverged, r"training diverged: the loss is nan at epoch 3, batch \d+; "
                                                      r"stopped before saving anything from this epoch; the last "
                                                      r"good checkpoint of this run is .*epoch_0002\.keras"):
            model.fit(tiny_data(), epochs=5, callbacks=callbacks, verbose=0)
        self.assertEqual(sorted(os.listdir(checkpoints)), ["checkpoints.csv", "epoch_0001.keras", "epoch_0002.keras"])
        restored = load_checkpoint(os.path.join(checkpoints, "epoch_0002.keras"))
        self.assertTrue(all(np.all(np.isfinite(w)) for w in restored.network.get_weights()))
        self.assertEqual(check_backup(backup), 2, "the resume backup still holds the last good epoch")
        shutil.rmtree(tmp)
