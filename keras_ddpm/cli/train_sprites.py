"""``train_sprites.py`` / ``keras-ddpm train sprites``: train a UNet DDPM on 16x16 sprites, then sample
with DDPM and DDIM (and per class).

    python train_sprites.py                          # the course's settings (T=500, 32 epochs, 64 features)
    python train_sprites.py --preset cpu             # about 20 minutes of training on 2 CPU cores
    python train_sprites.py --preset cpu --evaluate  # ... then the timing table and FID/KID

The data is DeepLearning.AI's .npy pair or any pair in its format (see --data); it is read through
the TFDS builder `keras_ddpm.apps.sprites.tfds_builder`. This module parses the flags;
`keras_ddpm.apps.sprites.pipeline.run` does the work (docs/sprites.md). Bad input exits with code
2 and one line.
"""

from __future__ import annotations

import argparse
import math
import os

from keras_ddpm.apps.flags import add_flags, apply_preset
from keras_ddpm.apps.sprites.evaluation import add_protocol_flags
from keras_ddpm.apps.sprites.presets import PRESET_FIELDS, PRESETS
from keras_ddpm.process.parameterization import PREDICTIONS
from keras_ddpm.process.schedules import SCHEDULES
from keras_ddpm.cli import CHECKOUT
from keras_ddpm.utils.cli import INT32_MAX, ArgumentParser, find_input, positive_float, positive_int

PROG = "train_sprites.py"
SPRITE_UNET_LEVELS = 2  # the UNet's default two down/up levels; level 2 is its middle
DEFAULT_DATA = ("data/sprites", "../shared/data/sprites")


def parse_args(argv=None, prog: str = PROG):
    p = ArgumentParser(
        prog=prog,
        description="Train a class-conditional UNet DDPM (Ho et al. 2020) on sprite images, sample it "
        "with DDPM and DDIM (Song et al. 2021) and classifier-free guidance (Ho & Salimans 2022).",
    )
    add_flags(
        p, "preset", "data", "out", "epochs", "batch_size", "lr", "lr_decay", "ema_momentum", "timesteps",
        "seed", "checkpoint_every", "plot_every", "plot_samples", "num_samples", "steps_per_execution",
        "no_jit", "subset", "validation_fraction", "save_model", "export", "no_tensorboard", "no_resume", "verbose",
        "mixed_precision", preset="course", choices_preset=sorted(PRESETS), lr_decay="linear", timesteps=500, plot_samples=30,
        num_samples=50, steps_per_execution=10, validation_fraction=0.0, save_model="saved_models/sprites.keras",
        help_preset="; ".join(f"{name}: {preset.description}" for name, preset in PRESETS.items())
                    + ". The flags below override single values",
        help_data="folder holding the images and labels .npy files (default: the first of "
                  f"{', '.join(DEFAULT_DATA)} that exists, relative to the current folder or this script's)",
        help_out="output folder (default: outputs/sprites_PRESET)",
        help_timesteps="T, diffusion steps, >= 2",
        help_num_samples="images in each final grid",
        help_ema_momentum="exponential moving average of the weights, swapped in at the end of training "
                          "(Keras' use_ema); 0 = off (course: 0, cpu: 0.995)",
    )
    p.add_argument("--images", help="images file name in --data: uint8 (N, H, W, 3) (default: "
                   "sprites_1788_16x16.npy, else nethack_slashem_16x16.npy)")
    p.add_argument("--labels", help="labels file name in --data: one-hot (N, num_classes) (default: "
                   "sprite_labels_nc_1788_16x16.npy, else nethack_slashem_labels_16x16.npy)")
    p.add_argument("--tfds-dir", help="TFDS data folder where the prepared dataset is cached "
                   "(default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    p.add_argument("--base-features", type=positive_int,
                   help="UNet width F of the first level; the second has 2F (course: 64)")
    p.add_argument("--attention-levels", type=_levels,
                   help="UNet levels with self-attention after each residual block, comma-separated: 0 is "
                   "16x16, 1 is 8x8, 2 the 4x4 middle; 'none' for none (course: none)")
    p.add_argument("--repeat", type=positive_int,
                   help="passes over the data per epoch (a small data set gets fewer, longer epochs)")
    p.add_argument("--augment", choices=("none", "flip"), help="random left-right flips (course: none)")
    p.add_argument("--schedule", choices=SCHEDULES,
                   help="noise schedule: linear (the course: betas 1e-4 .. 0.02), cosine (Nichol & Dhariwal "
                   "2021: alpha-bar reaches ~0 at the last step) or sigmoid")
    p.add_argument("--prediction", choices=PREDICTIONS,
                   help="what the UNet predicts: epsilon (the noise, as in the DDPM paper and the course) or v "
                   "(sqrt(alpha-bar) eps - sqrt(1 - alpha-bar) x0, Salimans & Ho 2022)")
    p.add_argument("--min-snr-gamma", type=_gamma,
                   help="weight the loss by min(SNR, gamma) (Hang et al. 2023; they use 5); 'none' for the "
                   "unweighted loss (course: none)")
    p.add_argument("--class-dropout", type=float, default=0.1,
                   help="probability of training on the 'no class' label, so one network learns the "
                   "conditional and the unconditional noise (classifier-free guidance) (default: %(default)s)")
    p.add_argument("--unconditional", action="store_true",
                   help="train without labels (no per-class samples then)")
    p.add_argument("--guidance-scale", type=float, default=2.0,
                   help="classifier-free guidance w for the per-class samples: eps = eps_uncond + "
                   "w (eps_cond - eps_uncond); 1 = plain conditional (default: %(default)s)")
    p.add_argument("--ddim-steps", type=positive_int, default=50,
                   help="DDIM steps for samples_ddim.png (default: %(default)s)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM eta, 0 (deterministic) .. 1 (default: %(default)s)")
    p.add_argument("--evaluate", action="store_true", help="after training, run "
                   "keras_ddpm.apps.sprites.evaluation: the DDPM vs DDIM timing table and FID/KID")
    p.add_argument("--eval-samples", type=positive_int, default=None,
                   help="samples per sampler for the evaluation (default: half the data set, the size "
                   "of the real-vs-real floor's halves)")
    add_protocol_flags(p, prefix="eval-")
    p.add_argument("--classifier", default=None, help="sprite classifier for FID/KID features, trained and "
                   "saved here if missing (default: saved_models/sprite_classifier_<images file>.keras)")
    p.add_argument("--inception-weights", default=None,
                   help="use InceptionV3 features from this local weights file (no-top .h5) instead of "
                   "the sprite classifier")
    args = p.parse_args(argv)
    apply_preset(args, PRESETS[args.preset], dict(zip(PRESET_FIELDS, PRESET_FIELDS)))
    if args.min_snr_gamma == "none":
        args.min_snr_gamma = None
    if args.out is None:
        args.out = os.path.join("outputs", f"sprites_{args.preset}")
    check(p, args)
    return args


def _levels(text: str) -> tuple:
    """``--attention-levels``: ``"1,2"`` -> ``(1, 2)``; ``none`` -> ``()``."""
    if text.strip().lower() == "none":
        return ()
    try:
        levels = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated level numbers or 'none', got {text!r}") from None
    if not levels or min(levels) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated level numbers >= 0 or 'none', got {text!r}")
    return levels


def _gamma(text: str):
    """``--min-snr-gamma``: a finite number > 0, or ``none``."""
    return "none" if text.strip().lower() == "none" else positive_float(text)


def check(p, args):
    """Every flag that training would use late is checked here, before any work."""
    from keras_ddpm.apps.sprites.evaluation import parse_etas, parse_modes, parse_steps

    if args.timesteps < 2:
        p.error(f"--timesteps must be >= 2, got {args.timesteps}")
    if not 0.0 <= args.class_dropout < 1.0:
        p.error(f"--class-dropout must be in [0, 1), got {args.class_dropout}")
    if not 0.0 <= args.eta <= 1.0:
        p.error(f"--eta must be in [0, 1], got {args.eta}")
    if not math.isfinite(args.guidance_scale):
        p.error(f"--guidance-scale must be a finite number, got {args.guidance_scale}")
    if args.ddim_steps > args.timesteps:
        p.error(f"--ddim-steps must be at most --timesteps ({args.timesteps}), got {args.ddim_steps}")
    if not 0.0 <= args.validation_fraction < 0.5:
        p.error(f"--validation-fraction: expected a number in [0, 0.5), got {args.validation_fraction}")
    if any(level > SPRITE_UNET_LEVELS for level in args.attention_levels):
        p.error(f"--attention-levels: the sprite UNet has levels 0..{SPRITE_UNET_LEVELS} "
                f"({SPRITE_UNET_LEVELS} is the middle), got {','.join(map(str, args.attention_levels))}")
    # The evaluation's flags are checked with or without --evaluate: a bad value is a mistake either way.
    # Without it the step counts are checked for their form only, as the default's exceed a small T.
    timesteps = args.timesteps if args.evaluate else INT32_MAX
    for flag, parse in (("--eval-ddim-steps", lambda text: parse_steps(text, timesteps)),
                        ("--eval-etas", parse_etas), ("--eval-modes", parse_modes)):
        name = flag[2:].replace("-", "_")
        try:
            value = parse(getattr(args, name))
        except ValueError as err:
            p.error(f"{flag}: {err}")
        if name != "eval_ddim_steps":
            setattr(args, name, value)
    if args.inception_weights is not None and not os.path.isfile(args.inception_weights):
        p.error(f"--inception-weights: no such file: {args.inception_weights}")


def main(argv=None, prog: str = PROG):
    from keras_ddpm.apps.sprites import pipeline

    args = parse_args(argv, prog)
    data_dir = find_input(args.data, DEFAULT_DATA, CHECKOUT, "no sprite data folder found: pass --data FOLDER "
                          "(holding the images and labels .npy files)", folder=True)
    return pipeline.run(args, data_dir)
