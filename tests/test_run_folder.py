"""One run per output folder (a lock that a SIGKILL releases), and no resume with other settings."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import tensorflow as tf
from helpers import BICYCLE, ROOT, run_script

from keras_ddpm.training.run_folder import (
    LOCK_FILE,
    SETTINGS_FILE,
    RunLock,
    check_settings,
)


def bicycle_command(out, *extra):
    return ["train_bicycle.py", "--data", BICYCLE, "--out", out, "--preset", "assignment", "--subset", "2000",
            "--timesteps", "100", "--plot-every", "100000", "--checkpoint-every", "100000", "--num-samples", "200",
            "--gif-frames", "2", "--save-model", "none", "--verbose", "2", "--validation-fraction", "0",
            "--study-samples", "0", "--no-tensorboard", *extra]


def epochs_logged(csv_path):
    if not os.path.exists(csv_path):
        return 0
    with open(csv_path) as handle:
        return max(0, len(handle.read().strip().splitlines()) - 1)


class RunLockTest(tf.test.TestCase):
    def test_a_second_holder_is_refused_with_the_first_ones_pid(self):
        out = os.path.join(tempfile.mkdtemp(), "run")
        with RunLock(out):
            with self.assertRaisesRegex(ValueError, rf"in use by another run \(pid {os.getpid()} on "):
                RunLock(out).acquire()
        with RunLock(out):  # released on exit: the folder can be used again
            pass

    def test_the_lock_of_a_killed_process_does_not_block(self):
        out = os.path.join(tempfile.mkdtemp(), "run")
        holder = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(f"""
                import sys, time
                sys.path.insert(0, {ROOT!r})
                from keras_ddpm.training.run_folder import RunLock
                RunLock({out!r}).acquire()
                print("locked", flush=True)
                time.sleep(120)
            """)], stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(holder.stdout.readline().strip(), "locked")
            with self.assertRaisesRegex(ValueError, f"pid {holder.pid} "):
                RunLock(out).acquire()
            holder.send_signal(signal.SIGKILL)
            holder.wait()
        finally:
            holder.kill()
            holder.stdout.close()
        self.assertTrue(os.path.exists(os.path.join(out, LOCK_FILE)), "SIGKILL leaves the file")
        with RunLock(out):  # ... but not the lock
            pass

    def test_an_output_path_that_is_a_file_is_one_clear_error(self):
        path = tempfile.mkstemp()[1]
        with self.assertRaisesRegex(ValueError, "is an existing file, not a folder"):
            RunLock(path)
        with self.assertRaisesRegex(ValueError, "a file stands in its path"):
            RunLock(os.path.join(path, "below"))


class CheckSettingsTest(tf.test.TestCase):
    def test_a_fresh_run_records_and_a_resume_must_match(self):
        out = tempfile.mkdtemp()
        check_settings(out, {"--seed": 0, "--lr": 1e-4, "--schedule": "linear"}, resuming=False)
        with open(os.path.join(out, SETTINGS_FILE)) as handle:
            self.assertEqual(json.load(handle), {"--seed": 0, "--lr": 1e-4, "--schedule": "linear"})
        check_settings(out, {"--seed": 0, "--lr": 1e-4, "--schedule": "linear"}, resuming=True)
        with self.assertRaisesRegex(ValueError, r"other settings: --seed 0 -> 1; --lr 0.0001 -> 0.05\. "):
            check_settings(out, {"--seed": 1, "--lr": 0.05, "--schedule": "linear"}, resuming=True)
        with self.assertRaisesRegex(ValueError, "--schedule linear -> sigmoid"):
            check_settings(out, {"--seed": 0, "--lr": 1e-4, "--schedule": "sigmoid"}, resuming=True)
        # Refused without touching the record; a fresh run (--no-resume) records the new settings.
        check_settings(out, {"--seed": 0, "--lr": 1e-4, "--schedule": "linear"}, resuming=True)
        check_settings(out, {"--seed": 1}, resuming=False)
        with open(os.path.join(out, SETTINGS_FILE)) as handle:
            self.assertEqual(json.load(handle), {"--seed": 1})


class TrainBicycleRunFolderTest(tf.test.TestCase):
    """The two defects as a user meets them: a second run into a busy folder, a resume with other flags."""

    def test_second_run_refused_then_resume_with_other_settings_refused(self):
        out = tempfile.mkdtemp()
        csv_path = os.path.join(out, "loss.csv")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        env.pop("KERAS_DDPM_DEBUG", None)
        log = open(os.path.join(tempfile.mkdtemp(), "first.log"), "w+")
        first = subprocess.Popen([sys.executable, *bicycle_command(out, "--epochs", "5000", "--seed", "0")],
                                 cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 180
            while epochs_logged(csv_path) < 1 and first.poll() is None and time.time() < deadline:
                time.sleep(0.05)
            self.assertIsNone(first.poll(), "the first run ended early")
            second = run_script(*bicycle_command(out, "--epochs", "5000", "--seed", "1"))
            self.assertIsNone(first.poll(), "the first run must still be running while the second is refused")
            before = epochs_logged(csv_path)
            first.send_signal(signal.SIGKILL)
            first.wait()
        finally:
            first.kill()
            first.wait()
            log.seek(0)
            first_output = log.read()
            log.close()
        self.assertEqual(second.returncode, 2, second.stderr[-2000:])
        self.assertRegex(second.stderr, rf"is in use by another run \(pid {first.pid} on .*train_bicycle.py")
        self.assertLen(second.stderr.strip().splitlines(), 1, second.stderr)
        self.assertGreaterEqual(before, 1, first_output[-2000:])
        with open(os.path.join(out, SETTINGS_FILE)) as handle:
            self.assertEqual(json.load(handle)["--seed"], 0, "the refused run recorded nothing")

        # The killed run left its backup and a lock file; the lock no longer holds, the settings do.
        changed = run_script(*bicycle_command(out, "--epochs", "4000", "--seed", "1", "--lr", "0.05",
                                              "--batch-size", "32", "--schedule", "sigmoid"))
        self.assertEqual(changed.returncode, 2, changed.stderr[-2000:])
        message = changed.stderr.strip()
        self.assertLen(message.splitlines(), 1, message)
        for difference in ("--seed 0 -> 1", "--lr 0.0001 -> 0.05", "--batch-size 64 -> 32", "--epochs 5000 -> 4000",
                           "--schedule linear -> sigmoid", "--no-resume"):
            self.assertIn(difference, message)
        other_preset = run_script(*bicycle_command(out, "--epochs", "5000", "--seed", "0", "--preset", "improved"))
        self.assertEqual(other_preset.returncode, 2, other_preset.stderr[-2000:])
        self.assertIn("--preset assignment -> improved", other_preset.stderr)
        self.assertEqual(epochs_logged(csv_path), before, "the refused runs did not touch loss.csv")
        self.assertTrue(os.path.isdir(os.path.join(out, "backup")), "nor the unfinished run's backup")
