"""``train_bicycle.py`` / ``keras-ddpm train bicycle``: train a DDPM on the 2D bicycle point cloud and
write every figure of the assignment and REPORT.md.

    python train_bicycle.py                          # the default preset (see --preset)
    python train_bicycle.py --preset assignment      # exactly the assignment's specification
    python train_bicycle.py --epochs 1000 --out outputs/bicycle_long

This module parses the flags; `keras_ddpm.apps.bicycle.pipeline.run` does the work (docs/bicycle.md
lists the outputs). Bad input exits with code 2 and a one-line message.
"""

from __future__ import annotations

import sys

from keras_ddpm.apps.flags import add_flags, apply_preset
from keras_ddpm.cli import CHECKOUT
from keras_ddpm.utils.cli import (
    ArgumentParser,
    find_input,
    non_negative_int,
    positive_float,
    positive_int,
)

PROG = "train_bicycle.py"
DEFAULT_DATA = ("data/bicycle.txt", "../shared/data/bicycle.txt")
DEFAULT_PRESET = "improved"
#: flag -> field of `keras_ddpm.apps.bicycle.presets.Preset` that fills it when it is not given
PRESET_FIELDS = {"epochs": "epochs", "batch_size": "batch_size", "lr": "learning_rate", "lr_decay": "lr_decay",
                 "schedule": "schedule", "ema_momentum": "ema_momentum", "variance": "variance",
                 "small_t_fraction": "small_t_fraction", "small_t_steps": "small_t_steps"}


def parse_args(argv=None, prog: str = PROG):
    from keras_ddpm.apps.bicycle.presets import PRESETS
    from keras_ddpm.training.distribute import STRATEGIES

    def from_preset(field):
        return "from the preset: " + ", ".join(f"{n} {getattr(pr, field):g}" for n, pr in PRESETS.items())

    p = ArgumentParser(
        prog=prog,
        description="Train a DDPM (Ho et al. 2020, Algorithms 1 and 2) on 2D points and plot it.",
    )
    add_flags(
        p, "data", "out", "preset", "epochs", "batch_size", "lr", "lr_decay", "ema_momentum", "timesteps", "seed",
        out="outputs/bicycle", preset=DEFAULT_PRESET, choices_preset=tuple(PRESETS), timesteps=1000,
        help_data="text file, two whitespace-separated floats per line (default: the first of "
                  f"{', '.join(DEFAULT_DATA)} that exists, relative to the current folder or to this script's folder)",
        help_preset="model and training preset: 'assignment' is exactly the assignment's specification "
                    "(DenoisingMLP, Adam 1e-4, batch 64); 'improved' is ResidualMLP (Fourier features, residual "
                    "blocks) with its own settings. The flags below override single values",
        help_epochs=f"training epochs ({from_preset('epochs')})",
        help_batch_size=f"batch size, the global batch under --strategy ({from_preset('batch_size')})",
        help_lr=f"Adam learning rate ({from_preset('learning_rate')})",
        help_lr_decay="learning-rate schedule: constant, or linear decay to 0 over the run (default: from the "
                      "preset: " + ", ".join(f"{n} {pr.lr_decay}" for n, pr in PRESETS.items()) + ")",
        help_ema_momentum="keep an exponential moving average of the weights with this momentum, e.g. 0.999 "
                          f"(Keras' optimizer use_ema); 0 = off ({from_preset('ema_momentum')})",
    )
    p.add_argument("--schedule", choices=("linear", "sigmoid", "cosine"), default=None,
                   help="noise schedule: linear betas 1e-4..0.02, sigmoid alpha-bar, or cosine "
                   "(default: from the preset, linear for both)")
    add_flags(
        p, "checkpoint_every", "plot_every", "plot_samples", "num_samples",
        plot_samples=1000, num_samples=20000,
        help_checkpoint_every="save a .keras checkpoint every N epochs; all are kept and compared by the "
                              "checkpoint study (default: epochs / 8 rounded up)",
        help_plot_every="plot samples from a fixed seed and the loss every N epochs (default: epochs / 4 rounded up)",
        help_num_samples="points in the final sample, samples.npy",
    )
    p.add_argument("--gif-frames", type=positive_int, default=50,
                   help="moments of the reverse process in the GIF (default: %(default)s)")
    p.add_argument("--variance", choices=("beta", "posterior"), default=None,
                   help="sampling variance: sigma_t^2 = beta_t, or the posterior variance (default: from the "
                   "preset: " + ", ".join(f"{n} {pr.variance}" for n, pr in PRESETS.items()) + ")")
    p.add_argument("--small-t-fraction", type=float, default=None,
                   help="draw this share of the training timesteps from the first --small-t-steps only "
                   "(SmallTimestepMixture); 0 = Algorithm 1's uniform t (" + from_preset("small_t_fraction") + ")")
    p.add_argument("--small-t-steps", type=positive_int, default=None,
                   help="the number of smallest timesteps --small-t-fraction draws from (default: from the preset: "
                   + ", ".join(f"{n} {pr.small_t_steps}" for n, pr in PRESETS.items()) + ")")
    add_flags(p, "steps_per_execution", steps_per_execution=100)
    p.add_argument("--fused-steps", type=positive_int, default=None,
                   help="run this many Algorithm-1 updates (minibatches) per compiled train step, in one XLA "
                   "loop (DiffusionModel.fused_steps); 1 uses Keras' steps_per_execution loop instead "
                   "(default: about 100, chosen to divide an epoch evenly; 1 under --strategy other than default)")
    add_flags(p, "no_jit", "subset", "save_model", "export", "mixed_precision", save_model="saved_models/bicycle.keras")
    p.add_argument("--strategy", choices=STRATEGIES, default="default",
                   help="tf.distribute strategy the model is built in: default (one device), mirrored (every GPU "
                   "of this machine, else every logical CPU device), multiworker (the cluster in TF_CONFIG), tpu "
                   "(TPU_NAME). --batch-size is the global batch, split evenly over the replicas, so the "
                   "training maths do not change with the number of devices (default: %(default)s)")
    p.add_argument("--cpu-devices", type=positive_int, default=None, metavar="N",
                   help="split the CPU into N logical devices, e.g. to try --strategy mirrored without GPUs")
    add_flags(p, "validation_fraction", validation_fraction=0.1,
              help_validation_fraction="fraction of the points held out (random split, never trained on) for the "
                                       "validation loss per timestep bin and the sample metrics; 0 turns both off")
    p.add_argument("--study-samples", type=non_negative_int, default=None,
                   help="points sampled per checkpoint in the checkpoint study (same seed for all); 0 skips the "
                   "study (default: the smaller of --num-samples and 3000)")
    add_flags(p, "no_tensorboard")
    p.add_argument("--compare-with", nargs="*", default=[], metavar="DIR",
                   help="earlier runs' output folders to set beside this one in REPORT.md (e.g. the other preset)")
    p.add_argument("--time-limit", type=positive_float, default=None, metavar="MINUTES",
                   help="stop training after the first epoch that ends past MINUTES of training (to compare "
                   "presets on the same training time); the learning-rate decay still spans --epochs")
    add_flags(p, "no_resume", "verbose")
    args = p.parse_args(argv)
    if not 0.0 <= args.validation_fraction < 0.5:
        p.error(f"argument --validation-fraction: expected a number in [0, 0.5), got {args.validation_fraction}")
    check_sample_counts(p, args)
    return args


def check_sample_counts(p, args) -> None:
    """The sample counts that the metrics and the study use after training, checked before it."""
    from keras_ddpm.apps.bicycle.study import MIN_SAMPLES
    from keras_ddpm.evaluation.points import PR_K

    if args.validation_fraction > 0 and args.num_samples <= PR_K:
        p.error(f"argument --num-samples: the sample metrics (k-NN precision/recall, k = {PR_K}) need at least "
                f"{PR_K + 1} samples, got {args.num_samples}")
    if args.validation_fraction > 0 and args.study_samples is not None and 0 < args.study_samples < MIN_SAMPLES:
        p.error(f"argument --study-samples: the checkpoint study needs at least {MIN_SAMPLES} samples per "
                f"checkpoint (or 0 to skip it), got {args.study_samples}")


def resolve(args):
    """Fill the flags left unset from the preset; returns the `Preset`."""
    from keras_ddpm.apps.bicycle.presets import get_preset

    preset = get_preset(args.preset)
    apply_preset(args, preset, PRESET_FIELDS)
    # About 8 checkpoints (the study needs at least 5) and 4 periodic plots: each one costs sampling
    # time inside training, a large share of a short run's with many of them.
    if args.checkpoint_every is None:
        args.checkpoint_every = -(-args.epochs // 8)
    if args.plot_every is None:
        args.plot_every = -(-args.epochs // 4)
    if args.study_samples is None:
        from keras_ddpm.apps.bicycle.study import MIN_SAMPLES

        args.study_samples = min(max(args.num_samples, MIN_SAMPLES), 3000)
    return preset


def main(argv=None, prog: str = PROG):
    from keras_ddpm.apps.bicycle import pipeline

    args = parse_args(argv, prog)
    data_path = find_input(args.data, DEFAULT_DATA, CHECKOUT,
                           "no bicycle data found: pass --data PATH, or put the file at data/bicycle.txt "
                           "(two whitespace-separated floats per line)")
    preset = resolve(args)
    command = f"{prog} " + " ".join(sys.argv[1:] if argv is None else argv)
    return pipeline.run(args, data_path, preset, command)
