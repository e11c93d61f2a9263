"""Test set-up: quiet TensorFlow and import the package from this checkout."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import keras_ddpm_env  # noqa: E402

keras_ddpm_env.tune_cpu()  # the scripts' TensorFlow settings, before any test imports TensorFlow


def pytest_collection_modifyitems(config, items):
    # tf.test.TestCase inherits a deprecated `test_session` context manager that pytest would
    # collect as a (skipped) test of every class; it is not a test.
    items[:] = [item for item in items if item.name != "test_session"]
