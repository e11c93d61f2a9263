"""Packaging: pyproject.toml pins what requirements.txt pins, and one console script, ``keras-ddpm``,
reaches every entry point of the project."""

import contextlib
import io
import os
import re
import subprocess
import sys
import tomllib

import tensorflow as tf
from helpers import ROOT

from keras_ddpm.cli import COMMANDS, main


def run(argv):
    """``keras-ddpm ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's --help and bad flags
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


class PyprojectTest(tf.test.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
            cls.project = tomllib.load(handle)
        with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as handle:
            runtime = handle.read().split("# Tests")[0]
        cls.required = [line.split("#")[0].strip() for line in runtime.splitlines()
                        if line.strip() and not line.startswith("#")]

    def test_dependencies_pin_the_versions_of_requirements_txt(self):
        # The one difference: `tensorflow` instead of the CPU-only `tensorflow-cpu` that CI installs.
        expected = sorted(line.replace("tensorflow-cpu", "tensorflow") for line in self.required)
        self.assertEqual(sorted(self.project["project"]["dependencies"]), expected)
        tensorflow = next(line for line in self.required if line.startswith("tensorflow-cpu"))
        self.assertEqual(self.project["project"]["optional-dependencies"]["gpu"],
                         [tensorflow.replace("tensorflow-cpu", "tensorflow[and-cuda]")])

    def test_one_console_script_importable_before_tensorflow(self):
        self.assertEqual(self.project["project"]["scripts"], {"keras-ddpm": "keras_ddpm_env:main"})
        self.assertEqual(self.project["tool"]["setuptools"]["py-modules"], ["keras_ddpm_env"])
        with open(os.path.join(ROOT, "keras_ddpm_env.py"), encoding="utf-8") as handle:
            imports = re.findall(r"^(?:import|from) (\w+)", handle.read(), re.MULTILINE)
        self.assertEqual(sorted(set(imports) - {"__future__"}), ["os", "sys", "warnings"])


class ConsoleScriptTest(tf.test.TestCase):
    def test_help_lists_every_command(self):
        code, out, _ = run(["--help"])
        self.assertEqual(code, 0)
        for name in COMMANDS:
            self.assertIn(f"  {name} ", out)
        for name in ("train bicycle", "train sprites", "train gmm", "sample", "export", "evaluate", "study",
                     "report", "benchmark"):
            self.assertIn(name, COMMANDS)

    def test_every_command_reaches_its_entry_point(self):
        for name in COMMANDS:
            with self.subTest(command=name):
                code, out, err = run(name.split() + ["--help"])
                self.assertEqual(code, 0, err)
                self.assertIn("usage:", out)
                self.assertIn("-h, --help", out)
        self.assertIn("usage: keras-ddpm train bicycle [-h]", run(["train", "bicycle", "--help"])[1])

    def test_bad_commands_are_one_line_and_exit_2(self):
        cases = [(["trian"], "keras-ddpm: unknown command 'trian' (keras-ddpm --help lists the commands)"),
                 (["train"], "keras-ddpm train: choose bicycle, sprites or gmm (keras-ddpm --help lists the commands)"),
                 (["train", "cats"], "keras-ddpm train: choose bicycle, sprites or gmm (keras-ddpm --help lists the "
                                     "commands)"),
                 (["study", "/nonexistent/run"], "keras-ddpm study: error: run folder not found: /nonexistent/run"),
                 (["sample", "/nonexistent", "--out", "x.npy"], "keras-ddpm sample: error: no SavedModel at /nonexistent")]
        for argv, message in cases:
            with self.subTest(argv=argv):
                code, _, err = run(argv)
                self.assertEqual((code, err.strip()), (2, message))

    def test_the_installed_entry_tunes_then_dispatches_in_a_fresh_process(self):
        code = "import sys, keras_ddpm_env; sys.exit(keras_ddpm_env.main(sys.argv[1:]))"
        env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "TF_ENABLE_ONEDNN_OPTS")}
        env.update(PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="0")
        result = subprocess.run([sys.executable, "-c", code, "train", "gmm", "--help"], env=env, capture_output=True,
                                text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        self.assertIn("usage: keras-ddpm train gmm", result.stdout)
        self.assertNotIn("oneDNN custom operations are on", result.stderr)
