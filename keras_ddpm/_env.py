"""The CPU tuning as seen from inside the package: `keras_ddpm_env` (a module outside it, so that
it can run before TensorFlow is imported). Importing this changes no setting."""

from keras_ddpm_env import YNN_FLAG, cpu_settings, tune_cpu

__all__ = ["YNN_FLAG", "cpu_settings", "tune_cpu"]
