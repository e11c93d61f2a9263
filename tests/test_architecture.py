"""The package's layers hold: `lint-imports` checks the contracts in pyproject.toml, and fails on a
deliberately wrong import (so the check is not one that cannot fail)."""

import os
import shutil
import subprocess
import sys
import tempfile

import tensorflow as tf
from helpers import ROOT

LINT_IMPORTS = os.path.join(os.path.dirname(sys.executable), "lint-imports")


def lint_imports(folder):
    env = dict(os.environ, PYTHONPATH=folder)
    return subprocess.run([LINT_IMPORTS, "--config", os.path.join(folder, "pyproject.toml"), "--no-cache"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)


class LayersTest(tf.test.TestCase):
    def test_the_contracts_are_kept(self):
        result = lint_imports(ROOT)
        self.assertEqual(result.returncode, 0, result.stdout[-3000:] + result.stderr[-3000:])
        self.assertIn("2 kept, 0 broken", result.stdout)

    def test_an_import_from_a_higher_layer_breaks_them(self):
        tmp = tempfile.mkdtemp()
        try:
            shutil.copytree(os.path.join(ROOT, "keras_ddpm"), os.path.join(tmp, "keras_ddpm"),
                            ignore=shutil.ignore_patterns("__pycache__"))
            shutil.copy(os.path.join(ROOT, "pyproject.toml"), tmp)
            with open(os.path.join(tmp, "keras_ddpm", "process", "schedules.py"), "a") as handle:
                handle.write("\nfrom keras_ddpm.apps.bicycle import presets  # noqa: E402,F401\n")
            with open(os.path.join(tmp, "keras_ddpm", "apps", "gmm", "plots.py"), "a") as handle:
                handle.write("\nfrom keras_ddpm.apps.sprites import figures  # noqa: E402,F401\n")
            result = lint_imports(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(result.returncode, 1, result.stdout[-3000:] + result.stderr[-3000:])
        self.assertIn("0 kept, 2 broken", result.stdout)
        self.assertIn("keras_ddpm.process.schedules -> keras_ddpm.apps.bicycle.presets", result.stdout)
        self.assertIn("keras_ddpm.apps.gmm.plots -> keras_ddpm.apps.sprites.figures", result.stdout)
