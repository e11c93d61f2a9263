#!/usr/bin/env python
"""Train a UNet DDPM on 16x16 sprites, then sample with DDPM and DDIM (and per class).

    python train_sprites.py                          # the course's settings (T=500, 32 epochs, 64 features)
    python train_sprites.py --preset cpu             # recognisable sprites in about 20 minutes on 2 CPU cores
    python train_sprites.py --preset cpu --evaluate  # ... then the timing table and FID/KID

The data is DeepLearning.AI's .npy pair or any pair in its format (see --data-dir); it is read
through the TFDS builder `keras_ddpm.apps.sprites.tfds_builder`. Bad input exits with code 2 and one line.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_ddpm.utils.cli import (  # noqa: E402
    ArgumentParser,
    find_input,
    non_negative_int,
    positive_float,
    positive_int,
    run_cli,
    save_model_path,
)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = ("data/sprites", "../shared/data/sprites")

#: Settings of each preset; any flag given on the command line wins.
PRESETS = {
    # DeepLearning.AI's "How diffusion models work" training loop.
    "course": dict(epochs=32, batch_size=100, lr=1e-3, base_features=64, repeat=1, augment="none",
                   ema_momentum=0.0, checkpoint_every=4, plot_every=4),
    # Half the course's width, batches of 32 (more updates per CPU second), EMA weights, flips and
    # 4 passes over the 1297 stand-in sprites per epoch: ~6,500 steps, about 20 min on 2 CPU cores.
    "cpu": dict(epochs=40, batch_size=32, lr=1e-3, base_features=32, repeat=4, augment="flip",
                ema_momentum=0.995, checkpoint_every=5, plot_every=5),
}


def parse_args(argv=None):
    p = ArgumentParser(
        prog="train_sprites.py",
        description="Train a class-conditional UNet DDPM (Ho et al. 2020) on sprite images, sample it "
        "with DDPM and DDIM (Song et al. 2021) and classifier-free guidance (Ho & Salimans 2022).",
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="course",
                   help="course: the DeepLearning.AI settings (32 epochs, batch 100, lr 1e-3 decaying "
                   "linearly, 64 base features, no EMA); cpu: about 20 minutes on a 2-core CPU (32 base "
                   "features, batch 32, lr 1e-3 decaying linearly, EMA 0.995, flips, 4 passes over the "
                   "data per epoch, 40 epochs). Flags below override the preset (default: %(default)s)")
    p.add_argument("--data-dir", help="folder holding the images and labels .npy files (default: the first "
                   f"of {', '.join(DEFAULT_DATA)} that exists, relative to the current folder or this script's)")
    p.add_argument("--images", help="images file name in --data-dir: uint8 (N, H, W, 3) (default: "
                   "sprites_1788_16x16.npy, else nethack_slashem_16x16.npy)")
    p.add_argument("--labels", help="labels file name in --data-dir: one-hot (N, num_classes) (default: "
                   "sprite_labels_nc_1788_16x16.npy, else nethack_slashem_labels_16x16.npy)")
    p.add_argument("--tfds-dir", help="TFDS data folder where the prepared dataset is cached "
                   "(default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    p.add_argument("--out", default=None, help="output folder (default: outputs/sprites_PRESET)")
    p.add_argument("--epochs", type=positive_int, help="training epochs (course: 32)")
    p.add_argument("--batch-size", type=positive_int, help="batch size (course: 100)")
    p.add_argument("--lr", type=positive_float, help="Adam learning rate (course: 1e-3)")
    p.add_argument("--lr-decay", choices=("linear", "constant"), default="linear",
                   help="learning rate decays linearly to 0 over the run, as in the course, or stays "
                   "constant (default: %(default)s)")
    p.add_argument("--base-features", type=positive_int,
                   help="UNet width F of the first level; the second has 2F (course: 64)")
    p.add_argument("--repeat", type=positive_int,
                   help="passes over the data per epoch (a small data set gets fewer, longer epochs)")
    p.add_argument("--augment", choices=("none", "flip"), help="random left-right flips (course: none)")
    p.add_argument("--timesteps", type=int, default=500, help="T, diffusion steps, >= 2; betas rise "
                   "linearly from 1e-4 to 0.02 as in the course (default: %(default)s)")
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
    p.add_argument("--num-samples", type=positive_int, default=50,
                   help="images in each final grid (default: %(default)s)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed for weights, data order, training noise and sampling (default: %(default)s)")
    p.add_argument("--checkpoint-every", type=positive_int, help="save a .keras checkpoint every N epochs")
    p.add_argument("--plot-every", type=positive_int, help="draw a sample grid (fixed seed) every N epochs")
    p.add_argument("--plot-samples", type=positive_int, default=30,
                   help="images in each periodic grid (default: %(default)s)")
    p.add_argument("--steps-per-execution", type=positive_int, default=10,
                   help="training steps per compiled call (default: %(default)s)")
    p.add_argument("--ema-momentum", type=float,
                   help="exponential moving average of the weights, swapped in at the end of training "
                   "(Keras' use_ema); 0 = off (course: 0, cpu: 0.995)")
    p.add_argument("--no-jit", action="store_true", help="sample without XLA (slower; XLA draws other "
                   "noise for the same seed)")
    p.add_argument("--subset", type=positive_int, help="train on the first N sprites only (quick trials, tests)")
    p.add_argument("--evaluate", action="store_true",
                   help="after training, run keras_ddpm.apps.sprites.evaluation: the DDPM vs DDIM timing table and FID/KID")
    p.add_argument("--eval-samples", type=positive_int, default=None,
                   help="samples per sampler for the evaluation (default: half the data set, the size "
                   "of the real-vs-real floor's halves)")
    p.add_argument("--eval-ddim-steps", default="10,25,50,100",
                   help="comma-separated DDIM step counts for the evaluation (default: %(default)s)")
    p.add_argument("--classifier", default=None, help="sprite classifier for FID/KID features, trained and "
                   "saved here if missing (default: saved_models/sprite_classifier_<images file>.keras)")
    p.add_argument("--inception-weights", default=None,
                   help="use InceptionV3 features from this local weights file (no-top .h5) instead of "
                   "the sprite classifier")
    p.add_argument("--save-model", default="saved_models/sprites.keras",
                   help="also save the final model here (.keras); 'none' to skip (default: %(default)s)")
    p.add_argument("--no-resume", action="store_true",
                   help="start over even if OUT holds an unfinished run (by default, re-running the same "
                   "command resumes from the last completed epoch)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                   help="Keras progress: 0 silent, 1 progress bar, 2 one line per epoch (default: 1 on a "
                   "terminal, else 2)")
    args = p.parse_args(argv)
    for name, value in PRESETS[args.preset].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.out is None:
        args.out = os.path.join("outputs", f"sprites_{args.preset}")
    if args.timesteps < 2:
        p.error(f"--timesteps must be >= 2, got {args.timesteps}")
    if not 0.0 <= args.class_dropout < 1.0:
        p.error(f"--class-dropout must be in [0, 1), got {args.class_dropout}")
    if not 0.0 <= args.eta <= 1.0:
        p.error(f"--eta must be in [0, 1], got {args.eta}")
    if args.ddim_steps > args.timesteps:
        p.error(f"--ddim-steps must be at most --timesteps ({args.timesteps}), got {args.ddim_steps}")
    return args


def find_data_dir(path):
    return find_input(path, DEFAULT_DATA, HERE, "no sprite data folder found: pass --data-dir FOLDER "
                      "(holding the images and labels .npy files)", folder=True)


def main(argv=None):
    args = parse_args(argv)
    data_dir = find_data_dir(args.data_dir)
    save_model_path(args.save_model)

    from keras_ddpm.training.run_folder import RunLock

    with RunLock(args.out):  # refuses at once if another run writes into --out
        return train_and_sample(args, data_dir)


def train_and_sample(args, data_dir):

    import keras
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from keras_ddpm import DDPMSampler, DiffusionModel, NoiseSchedule
    from keras_ddpm.apps.sprites.data import make_image_dataset
    from keras_ddpm.apps.sprites.figures import (
        SampleGridPlotter,
        class_rows,
        image_grid,
        sample_figure,
    )
    from keras_ddpm.apps.sprites.tfds_builder import class_names, sprites_builder
    from keras_ddpm.networks.unet import UNet
    from keras_ddpm.samplers import DDIMSampler
    from keras_ddpm.training.loop import TrainConfig, compile_model, is_resuming, train
    from keras_ddpm.training.run_folder import check_settings
    from keras_ddpm.utils.io import copy_file, save_model

    verbose = args.verbose if args.verbose is not None else (1 if sys.stdout.isatty() else 2)
    builder = sprites_builder(data_dir, args.images, args.labels, data_dir=args.tfds_dir)
    names = class_names(builder)
    split = "train" if args.subset is None else f"train[:{args.subset}]"
    images, labels = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, as_supervised=True))
    data_shape = images.shape[1:]
    print(f"data: {len(images)} sprites {data_shape}, {len(names)} classes ({', '.join(names)}) "
          f"from {data_dir} via TFDS config {builder.builder_config.name!r}")
    dataset = make_image_dataset(tf.data.Dataset.from_tensor_slices((images, labels)), args.batch_size,
                                 seed=args.seed, augment=args.augment, repeat=args.repeat)
    steps_per_epoch = int(dataset.cardinality())

    out = args.out
    # Refuses to resume an unfinished run in OUT with other settings, before anything is written.
    check_settings(out, {
        "--preset": args.preset, "--data-dir": os.path.abspath(data_dir), "--images": args.images,
        "--labels": args.labels, "--subset": args.subset, "--seed": args.seed, "--epochs": args.epochs,
        "--batch-size": args.batch_size, "--lr": args.lr, "--lr-decay": args.lr_decay,
        "--base-features": args.base_features, "--repeat": args.repeat, "--augment": args.augment,
        "--timesteps": args.timesteps, "--class-dropout": args.class_dropout,
        "--unconditional": args.unconditional, "--ema-momentum": args.ema_momentum,
    }, resuming=is_resuming(out, not args.no_resume))
    keras.utils.set_random_seed(args.seed)
    per_class = 10
    class_rows([(name, images[labels == k][:per_class]) for k, name in enumerate(names)],
               os.path.join(out, "data.png"), title="training data, 10 per class")

    config = TrainConfig(
        epochs=args.epochs, learning_rate=args.lr, lr_decay=args.lr_decay, ema_momentum=args.ema_momentum,
        steps_per_execution=min(args.steps_per_execution, steps_per_epoch),
        checkpoint_every=args.checkpoint_every, plot_every=args.plot_every, resume=not args.no_resume,
        verbose=verbose,
    )
    schedule = NoiseSchedule("linear", args.timesteps)
    num_classes = None if args.unconditional else len(names)
    network = UNet(channels=data_shape[-1], base_features=args.base_features, num_classes=num_classes)
    model = DiffusionModel(network, schedule, seed=args.seed,
                           class_dropout=0.0 if args.unconditional else args.class_dropout)
    compile_model(model, config, data_shape, steps_per_epoch)
    print(f"UNet: {network.count_params():,} parameters, base features {args.base_features}, "
          f"{'unconditional' if num_classes is None else f'{num_classes} classes + no-class'}; "
          f"{steps_per_epoch} steps per epoch of batch {args.batch_size}")

    jit = not args.no_jit
    ddpm = DDPMSampler(schedule, jit_compile=jit)
    plotter = SampleGridPlotter(ddpm, args.plot_samples, os.path.join(out, "samples"), data_shape,
                                args.plot_every, seed=args.seed, class_names=names,
                                guidance_scale=args.guidance_scale)
    start = time.time()
    fit_data = dataset if num_classes else dataset.map(lambda x, y: x)
    train(model, fit_data, out, config, extra_callbacks=[plotter])
    print(f"training: {time.time() - start:.1f} s")
    final = save_model(model, os.path.join(out, "model.keras"))
    if save_model_path(args.save_model):
        copy_file(final, args.save_model)

    # Final grids: unconditional DDPM and DDIM (w = 0 for a conditional network), then per class.
    ddim = DDIMSampler(schedule, num_steps=args.ddim_steps, eta=args.eta, clip_x0=(-1.0, 1.0), jit_compile=jit)
    shape = (args.num_samples,) + tuple(data_shape)
    for name, sampler, label in (("ddpm", ddpm, f"DDPM, {args.timesteps} steps"),
                                 ("ddim", ddim, f"DDIM, {args.ddim_steps} steps, eta {args.eta:g}")):
        start = time.time()
        samples = sampler.sample(network, shape, seed=args.seed)  # no labels: unconditional
        seconds = time.time() - start
        path = image_grid(samples, os.path.join(out, f"samples_{name}.png"), cols=10,
                          title=f"{label}: {args.num_samples} samples, {seconds:.1f} s")
        print(f"{label}: {args.num_samples} samples in {seconds:.1f} s (incl. compiling) -> {path}")
    if num_classes:
        path = os.path.join(out, "samples_per_class.png")
        sample_figure(ddpm, network, path, args.num_samples, data_shape, seed=args.seed, class_names=names,
                      guidance_scale=args.guidance_scale,
                      title=f"DDPM, one row per class, guidance scale {args.guidance_scale:g}")
        print(f"per-class samples -> {path}")

    if args.evaluate:
        from keras_ddpm.apps.sprites import evaluation as sprites_eval

        steps = sprites_eval.parse_steps(args.eval_ddim_steps, args.timesteps)
        sprites_eval.evaluate(
            network, schedule, images, labels, os.path.join(out, "eval"), ddim_steps=steps,
            num_samples=args.eval_samples, seed=args.seed, jit_compile=jit,
            classifier_path=args.classifier or sprites_eval.default_classifier_path(builder),
            inception_weights=args.inception_weights, verbose=verbose,
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, prog="train_sprites.py"))
