"""What must happen before TensorFlow is imported, in a module that does not import it.

Importing `keras_ddpm` changes no process-wide setting. The CPU tuning this project was measured
with is an explicit opt-in, `tune_cpu`, to call at the top of a program, before ``tensorflow``,
``keras`` or ``keras_ddpm`` is imported (TensorFlow reads both settings once per process)::

    import keras_ddpm_env
    keras_ddpm_env.tune_cpu()
    import keras_ddpm

It sets, unless the user has set them:

- ``TF_ENABLE_ONEDNN_OPTS=0``: oneDNN's graph rewrites off, for the MLPs (``tune_cpu()``). On the
  2-core CPU the project is developed on they slowed the compiled samplers and small-batch
  ``model.fit``, and the grappler remapper logs a spurious "empty op name" error for the
  conditional blocks. Convolutions are the other way round: the sprite UNet trains ~1.6x faster
  with oneDNN's kernels, so the sprite programs call ``tune_cpu(onednn=True)``
  (``TF_ENABLE_ONEDNN_OPTS=1``).
- ``--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce`` appended to ``XLA_FLAGS``: XLA's CPU
  backend hands dots, elementwise ops and reductions to the YNNPACK library, which speeds up the
  XLA-compiled training step (the same seed still gives the same weights; graphs run without XLA
  are untouched). ``--xla_cpu_experimental_ynn_fusion_type=`` in ``XLA_FLAGS`` turns it off.

The measurements behind both: docs/design-notes.md#onednn-and-xla-flags. The repository's scripts
and the ``keras-ddpm`` console script (`main`) call `tune_cpu` first.
"""

from __future__ import annotations

import os
import sys
import warnings

ONEDNN_VAR = "TF_ENABLE_ONEDNN_OPTS"
YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
YNN_FUSIONS = "dot,eltwise,reduce"


def cpu_settings(environ=None, onednn: bool = False) -> dict:
    """The environment variables `tune_cpu` sets, given ``environ`` (default: ``os.environ``);
    a variable or flag the user has set is left as it is."""
    environ = os.environ if environ is None else environ
    settings = {}
    if ONEDNN_VAR not in environ:
        settings[ONEDNN_VAR] = "1" if onednn else "0"
    flags = environ.get("XLA_FLAGS", "")
    if YNN_FLAG not in flags:
        settings["XLA_FLAGS"] = f"{flags} {YNN_FLAG}={YNN_FUSIONS}".strip()
    return settings


def tune_cpu(onednn: bool = False) -> dict:
    """Opt in to the project's CPU tuning (see the module docstring); returns the variables it set.

    ``onednn``: switch oneDNN's kernels on (convolutional networks) instead of off (the MLPs).

    Call it before TensorFlow is imported. Afterwards it changes nothing and warns (RuntimeWarning),
    unless the settings are already in place.
    """
    settings = cpu_settings(onednn=onednn)
    if settings and "tensorflow" in sys.modules:
        warnings.warn("keras_ddpm_env.tune_cpu() has no effect: TensorFlow is already imported and has read "
                      "its settings; call it before importing tensorflow, keras or keras_ddpm",
                      RuntimeWarning, stacklevel=2)
        return {}
    os.environ.update(settings)
    return settings


def main(argv=None) -> int:
    """The ``keras-ddpm`` console script: quiet TensorFlow's C++ logs (unless set), `tune_cpu`, then
    `keras_ddpm.cli.main`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = sys.argv[1:] if argv is None else list(argv)
    tune_cpu(onednn=args[:2] == ["train", "sprites"] or args[:1] == ["evaluate"])
    from keras_ddpm.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
