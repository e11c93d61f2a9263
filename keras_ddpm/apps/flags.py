"""The command-line flags that several scripts share, each defined once so it means the same everywhere.

`add_flags(parser, "out", "seed", ...)` adds flags by name from `FLAGS`; a script passes its own
default (and, where it must, a longer help) per flag. A flag whose default is None and whose
value comes from a preset is filled by `apply_preset` after parsing, the same way in every
application.

An alias keeps an older spelling working: ``--data-dir`` for ``--data``.
"""

from __future__ import annotations

import sys

from keras_ddpm.utils.cli import non_negative_int, positive_float, positive_int

#: name -> (option strings, argparse keyword arguments). ``dest`` is the name.
FLAGS = {
    "data": (("--data", "--data-dir"), dict(
        help="the data: a file or folder (default: the first of the documented locations that exists, "
             "relative to the current folder or to the script's folder)")),
    "out": (("--out",), dict(help="output folder")),
    "preset": (("--preset",), dict(help="preset of model and training settings; the flags below override "
                                        "single values")),
    "seed": (("--seed",), dict(type=non_negative_int, default=0,
                              help="seed for weights, data order, training noise and sampling")),
    "epochs": (("--epochs",), dict(type=positive_int, help="training epochs")),
    "batch_size": (("--batch-size",), dict(type=positive_int,
                                           help="batch size (the global batch under a tf.distribute strategy)")),
    "lr": (("--lr",), dict(type=positive_float, help="peak Adam learning rate")),
    "lr_decay": (("--lr-decay",), dict(choices=("constant", "linear"),
                                       help="learning-rate schedule: constant, or linear decay to 0 over the run")),
    "ema_momentum": (("--ema-momentum",), dict(
        type=float, help="keep an exponential moving average of the weights with this momentum, swapped in at "
                         "the end of training (Keras' use_ema); 0 = off")),
    "timesteps": (("--timesteps",), dict(type=int, help="T, diffusion steps, >= 2")),
    "checkpoint_every": (("--checkpoint-every",), dict(type=positive_int,
                                                       help="save a .keras checkpoint every N epochs")),
    "plot_every": (("--plot-every",), dict(type=positive_int,
                                           help="plot samples from a fixed seed every N epochs")),
    "plot_samples": (("--plot-samples",), dict(type=positive_int, help="samples in each periodic plot")),
    "num_samples": (("--num-samples",), dict(type=positive_int, help="samples in the final sample")),
    "steps_per_execution": (("--steps-per-execution",), dict(
        type=positive_int, help="training steps per compiled call; larger is faster for small batches")),
    "no_jit": (("--no-jit",), dict(action="store_true",
                                   help="no XLA: neither the train step nor the samplers are XLA-compiled "
                                        "(slower; XLA draws other noise for the same seed)")),
    "subset": (("--subset",), dict(type=positive_int,
                                   help="train on a random subset of N examples (seeded; quick trials and tests)")),
    "validation_fraction": (("--validation-fraction",), dict(
        type=float, help="fraction of the data held out (random split, never trained on) for the validation "
                         "loss per timestep bin; 0 turns it off")),
    "save_model": (("--save-model",), dict(help="also save the final model here (.keras); 'none' to skip")),
    "export": (("--export",), dict(metavar="DIR", help=(
        "write the sampler SavedModel (for sample.py, serving, other machines) here at the end of training; "
        "'none' to skip (default: --save-model without .keras, or none when --save-model is none)"))),
    "no_tensorboard": (("--no-tensorboard",), dict(
        action="store_true", help="do not write TensorBoard logs (default: scalars and sample images in "
                                  "OUT/tensorboard)")),
    "no_resume": (("--no-resume",), dict(
        action="store_true", help="start over even if OUT holds an unfinished run (by default, re-running the "
                                  "same command resumes from the last completed epoch)")),
    "mixed_precision": (("--mixed-precision",), dict(
        choices=("none", "mixed_float16", "mixed_bfloat16"), default="none",
        help="compute the network in float16 or bfloat16 with float32 weights (a Keras mixed dtype policy on "
             "its layers; mixed_float16 adds dynamic loss scaling); the time embedding's sinusoids, the "
             "schedule, the noise, the forward process, the loss and the samplers stay float32. Fast on GPUs "
             "with tensor cores (float16, bfloat16) and on TPUs (bfloat16), not on most CPUs")),
    "verbose": (("--verbose",), dict(type=int, choices=(0, 1, 2),
                                     help="Keras progress: 0 silent, 1 progress bar, 2 one line per epoch "
                                          "(default: 1 on a terminal, else 2)")),
}


def add_flags(parser, *names, **defaults):
    """Add the flags ``names`` (keys of `FLAGS`) to ``parser``.

    A keyword ``name=value`` sets that flag's default (the help then shows it); ``help_<name>``
    replaces its help text, ``choices_<name>`` its choices.
    """
    for name in names:
        options, kwargs = FLAGS[name]
        kwargs = dict(kwargs, dest=name)
        if f"help_{name}" in defaults:
            kwargs["help"] = defaults[f"help_{name}"]
        if f"choices_{name}" in defaults:
            kwargs["choices"] = defaults[f"choices_{name}"]
        if name in defaults:
            kwargs["default"] = defaults[name]
        if kwargs.get("default") is not None and kwargs.get("action") is None and "(default" not in kwargs["help"]:
            kwargs["help"] += " (default: %(default)s)"
        parser.add_argument(*options, **kwargs)
    return parser


def apply_preset(args, preset, fields: dict) -> None:
    """Fill every flag left unset (None) from ``preset``: ``fields`` maps flag names to the
    preset's attribute names."""
    for flag, field in fields.items():
        if getattr(args, flag) is None:
            setattr(args, flag, getattr(preset, field))


def verbosity(verbose):
    """Keras' ``verbose``: the flag's value, else a progress bar on a terminal and one line per epoch otherwise."""
    return verbose if verbose is not None else (1 if sys.stdout.isatty() else 2)
