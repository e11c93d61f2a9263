#!/usr/bin/env python
"""Train a DDPM on the 2D bicycle point cloud and write every figure of the assignment.

    python train_bicycle.py                      # defaults: the assignment's model, 400 epochs
    python train_bicycle.py --epochs 1000 --out outputs/bicycle_long

See README.md for the outputs. Bad input exits with code 2 and a one-line message.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_ddpm.cli import (  # noqa: E402
    ArgumentParser,
    non_negative_int,
    positive_float,
    positive_int,
    run_cli,
)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = ("data/bicycle.txt", "../shared/data/bicycle.txt")
FORWARD_STEPS = (0, 5, 50, 100, 250, 500, 750, 999)


def parse_args(argv=None):
    p = ArgumentParser(
        prog="train_bicycle.py",
        description="Train a DDPM (Ho et al. 2020, Algorithms 1 and 2) on 2D points and plot it.",
    )
    p.add_argument("--data", help="text file, two whitespace-separated floats per line "
                   f"(default: the first of {', '.join(DEFAULT_DATA)} that exists, relative to the "
                   "current folder or to this script's folder)")
    p.add_argument("--out", default="outputs/bicycle", help="output folder (default: %(default)s)")
    p.add_argument("--epochs", type=positive_int, default=400, help="training epochs (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=1e-4, help="Adam learning rate (default: %(default)s)")
    p.add_argument("--schedule", choices=("linear", "sigmoid", "cosine"), default="linear",
                   help="noise schedule: linear betas 1e-4..0.02, sigmoid alpha-bar, or cosine "
                   "(default: %(default)s)")
    p.add_argument("--timesteps", type=int, default=1000, help="T, diffusion steps, >= 2 (default: %(default)s)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed for weights, data order, training noise and sampling (default: %(default)s)")
    p.add_argument("--checkpoint-every", type=positive_int, default=50,
                   help="save a .keras checkpoint every N epochs; all are kept (default: %(default)s)")
    p.add_argument("--plot-every", type=positive_int, default=25,
                   help="plot samples from a fixed seed and the loss every N epochs (default: %(default)s)")
    p.add_argument("--plot-samples", type=positive_int, default=2000,
                   help="points in each periodic sample plot (default: %(default)s)")
    p.add_argument("--num-samples", type=positive_int, default=20000,
                   help="points in the final sample, samples.npy (default: %(default)s)")
    p.add_argument("--gif-frames", type=positive_int, default=50,
                   help="moments of the reverse process in the GIF (default: %(default)s)")
    p.add_argument("--variance", choices=("beta", "posterior"), default="beta",
                   help="sampling variance: sigma_t^2 = beta_t, or the posterior variance (default: %(default)s)")
    p.add_argument("--ema-momentum", type=float, default=0.0,
                   help="keep an exponential moving average of the weights with this momentum, "
                   "e.g. 0.999 (Keras' optimizer use_ema); 0 = off (default: %(default)s)")
    p.add_argument("--steps-per-execution", type=positive_int, default=100,
                   help="training steps per compiled call; larger is faster for small batches "
                   "(default: %(default)s)")
    p.add_argument("--subset", type=positive_int, default=None,
                   help="train on a random subset of N points (quick trials and tests)")
    p.add_argument("--save-model", default="saved_models/bicycle.keras",
                   help="also save the final model here (.keras); 'none' to skip (default: %(default)s)")
    p.add_argument("--no-resume", action="store_true",
                   help="start over even if OUT holds an unfinished run (by default, re-running the "
                   "same command resumes from the last completed epoch)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                   help="Keras progress: 0 silent, 1 progress bar, 2 one line per epoch "
                   "(default: 1 on a terminal, else 2)")
    return p.parse_args(argv)


def find_data(path):
    """The data file to use: ``--data`` if given, else the documented default locations."""
    if path:
        return path
    for candidate in DEFAULT_DATA:
        for base in (os.getcwd(), HERE):
            full = os.path.join(base, candidate)
            if os.path.isfile(full):
                return full
    raise FileNotFoundError(
        "no bicycle data found: pass --data PATH, or put the file at data/bicycle.txt "
        "(two whitespace-separated floats per line)"
    )


def main(argv=None):
    args = parse_args(argv)
    data_path = find_data(args.data)

    import keras
    import numpy as np

    from keras_ddpm import DDPMSampler, DenoisingMLP, DiffusionModel, NoiseSchedule
    from keras_ddpm.figures2d import write_final_figures, write_preliminary_figures
    from keras_ddpm.callbacks import SamplePlotter
    from keras_ddpm.data import load_points, make_dataset
    from keras_ddpm.io import copy_file, save_model
    from keras_ddpm.training import TrainConfig, compile_model, train

    verbose = args.verbose if args.verbose is not None else (1 if sys.stdout.isatty() else 2)
    config = TrainConfig(
        epochs=args.epochs, learning_rate=args.lr, ema_momentum=args.ema_momentum,
        steps_per_execution=args.steps_per_execution, checkpoint_every=args.checkpoint_every,
        plot_every=args.plot_every, resume=not args.no_resume,
        verbose=verbose,
    )
    schedule = NoiseSchedule(args.schedule, args.timesteps)
    points = load_points(data_path)
    if args.subset is not None and args.subset < len(points):
        points = points[np.random.default_rng(args.seed).permutation(len(points))[: args.subset]]
    dataset = make_dataset(points, args.batch_size, seed=args.seed)
    print(f"data: {len(points)} points from {data_path}")

    keras.utils.set_random_seed(args.seed)
    out = args.out
    os.makedirs(out, exist_ok=True)
    write_preliminary_figures(points, schedule, out, seed=args.seed, forward_steps=FORWARD_STEPS)

    network = DenoisingMLP(data_dim=points.shape[1])
    model = compile_model(DiffusionModel(network, schedule, seed=args.seed), config, points.shape[1:])
    print_shape_check(network, points.shape[1], args.batch_size, schedule.timesteps)

    sampler = DDPMSampler(schedule, variance=args.variance, jit_compile=True)
    plotter = SamplePlotter(sampler, args.plot_samples, os.path.join(out, "samples"), args.plot_every,
                            seed=args.seed, data_shape=points.shape[1:])
    start = time.time()
    train(model, dataset, out, config, extra_callbacks=[plotter])
    train_seconds = time.time() - start
    print(f"training: {train_seconds:.1f} s")

    final = save_model(model, os.path.join(out, "model.keras"))
    if args.save_model.lower() != "none":
        copy_file(final, args.save_model)

    start = time.time()
    summary = write_final_figures(network, sampler, points, out, num_samples=args.num_samples,
                                  seed=args.seed, gif_frames=args.gif_frames,
                                  progress=verbose)
    print(f"sampling {args.num_samples} points and drawing: {time.time() - start:.1f} s")
    for name in summary:
        print(f"wrote {os.path.join(out, name)}")
    return 0


def print_shape_check(network, data_dim, batch, timesteps):
    """Run the untrained network once and print its input and output shapes."""
    import numpy as np

    x = np.zeros((batch, data_dim), np.float32)
    t = np.random.default_rng(0).integers(0, timesteps, size=batch)
    y = network([x, t])
    print(f"shape check (untrained): x_t {x.shape} + t {t.shape} -> eps {tuple(y.shape)}; "
          f"{network.count_params():,} parameters")
    if tuple(y.shape) != x.shape:
        raise RuntimeError(f"network output {tuple(y.shape)} does not match its input {x.shape}")


if __name__ == "__main__":
    sys.exit(run_cli(main, prog="train_bicycle.py"))
