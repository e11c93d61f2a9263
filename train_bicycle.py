#!/usr/bin/env python
"""Train a DDPM on the 2D bicycle point cloud and write every figure of the assignment and REPORT.md.

    python train_bicycle.py                          # the default preset (see --preset)
    python train_bicycle.py --preset assignment      # exactly the assignment's specification
    python train_bicycle.py --epochs 1000 --out outputs/bicycle_long

See README.md for the outputs. Bad input exits with code 2 and a one-line message.
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
DEFAULT_DATA = ("data/bicycle.txt", "../shared/data/bicycle.txt")
FORWARD_STEPS = (0, 5, 50, 100, 250, 500, 750, 999)


DEFAULT_PRESET = "improved"


def parse_args(argv=None):
    from keras_ddpm.apps.bicycle.presets import PRESETS
    from keras_ddpm.training.distribute import STRATEGIES

    def preset_default(field):
        return "from the preset: " + ", ".join(f"{n} {getattr(pr, field):g}" for n, pr in PRESETS.items())

    p = ArgumentParser(
        prog="train_bicycle.py",
        description="Train a DDPM (Ho et al. 2020, Algorithms 1 and 2) on 2D points and plot it.",
    )
    p.add_argument("--data", help="text file, two whitespace-separated floats per line "
                   f"(default: the first of {', '.join(DEFAULT_DATA)} that exists, relative to the "
                   "current folder or to this script's folder)")
    p.add_argument("--out", default="outputs/bicycle", help="output folder (default: %(default)s)")
    p.add_argument("--preset", choices=tuple(PRESETS), default=DEFAULT_PRESET,
                   help="model and training preset: 'assignment' is exactly the assignment's specification "
                   "(DenoisingMLP, Adam 1e-4, batch 64); 'improved' is ResidualMLP (Fourier features, residual "
                   "blocks) with its own settings. The flags below override single values (default: %(default)s)")
    p.add_argument("--epochs", type=positive_int, default=None, help=f"training epochs ({preset_default('epochs')})")
    p.add_argument("--batch-size", type=positive_int, default=None, help=f"batch size ({preset_default('batch_size')})")
    p.add_argument("--lr", type=positive_float, default=None,
                   help=f"Adam learning rate ({preset_default('learning_rate')})")
    p.add_argument("--lr-decay", choices=("constant", "linear"), default=None,
                   help="learning-rate schedule: constant, or linear decay to 0 over the run (default: from the "
                   "preset: " + ", ".join(f"{n} {pr.lr_decay}" for n, pr in PRESETS.items()) + ")")
    p.add_argument("--schedule", choices=("linear", "sigmoid", "cosine"), default=None,
                   help="noise schedule: linear betas 1e-4..0.02, sigmoid alpha-bar, or cosine "
                   "(default: from the preset, linear for both)")
    p.add_argument("--timesteps", type=int, default=1000, help="T, diffusion steps, >= 2 (default: %(default)s)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed for weights, data order, training noise and sampling (default: %(default)s)")
    p.add_argument("--checkpoint-every", type=positive_int, default=None,
                   help="save a .keras checkpoint every N epochs; all are kept and compared by the checkpoint "
                   "study (default: epochs / 8, at least 1)")
    p.add_argument("--plot-every", type=positive_int, default=None,
                   help="plot samples from a fixed seed and the loss every N epochs (default: epochs / 8, at least 1)")
    p.add_argument("--plot-samples", type=positive_int, default=2000,
                   help="points in each periodic sample plot (default: %(default)s)")
    p.add_argument("--num-samples", type=positive_int, default=20000,
                   help="points in the final sample, samples.npy (default: %(default)s)")
    p.add_argument("--gif-frames", type=positive_int, default=50,
                   help="moments of the reverse process in the GIF (default: %(default)s)")
    p.add_argument("--variance", choices=("beta", "posterior"), default=None,
                   help="sampling variance: sigma_t^2 = beta_t, or the posterior variance (default: from the "
                   "preset: " + ", ".join(f"{n} {pr.variance}" for n, pr in PRESETS.items()) + ")")
    p.add_argument("--ema-momentum", type=float, default=None,
                   help="keep an exponential moving average of the weights with this momentum, "
                   "e.g. 0.999 (Keras' optimizer use_ema); 0 = off (default: from the preset: "
                   + ", ".join(f"{n} {pr.ema_momentum:g}" for n, pr in PRESETS.items()) + ")")
    p.add_argument("--small-t-fraction", type=float, default=None,
                   help="draw this share of the training timesteps from the first --small-t-steps only (more "
                   "training where the noise is as fine as the details); 0 = Algorithm 1's uniform t (default: "
                   "from the preset: " + ", ".join(f"{n} {pr.small_t_fraction:g}" for n, pr in PRESETS.items()) + ")")
    p.add_argument("--small-t-steps", type=positive_int, default=None,
                   help="the number of smallest timesteps --small-t-fraction draws from (default: from the preset: "
                   + ", ".join(f"{n} {pr.small_t_steps}" for n, pr in PRESETS.items()) + ")")
    p.add_argument("--steps-per-execution", type=positive_int, default=100,
                   help="training steps per compiled call; larger is faster for small batches "
                   "(default: %(default)s)")
    p.add_argument("--fused-steps", type=positive_int, default=None,
                   help="run this many Algorithm-1 updates (minibatches) per compiled train step, in one XLA "
                   "loop (DiffusionModel.fused_steps); 1 uses Keras' steps_per_execution loop instead "
                   "(default: about 100, chosen to divide an epoch evenly; 1 under --strategy other than default)")
    p.add_argument("--no-jit", action="store_true", help="do not XLA-compile the (fused) train step")
    p.add_argument("--subset", type=positive_int, default=None,
                   help="train on a random subset of N points (quick trials and tests)")
    p.add_argument("--save-model", default="saved_models/bicycle.keras",
                   help="also save the final model here (.keras); 'none' to skip (default: %(default)s)")
    p.add_argument("--export", default=None, metavar="DIR",
                   help="write the sampler SavedModel (for sample.py, serving, other machines) here at the end "
                   "of training; 'none' to skip (default: --save-model without .keras, i.e. saved_models/bicycle, "
                   "or none when --save-model is none)")
    p.add_argument("--strategy", choices=STRATEGIES, default="default",
                   help="tf.distribute strategy the model is built in: default (one device), mirrored (every GPU "
                   "of this machine, else every logical CPU device), multiworker (the cluster in TF_CONFIG), tpu "
                   "(TPU_NAME). --batch-size is the global batch, split evenly over the replicas, so the "
                   "training maths do not change with the number of devices (default: %(default)s)")
    p.add_argument("--cpu-devices", type=positive_int, default=None, metavar="N",
                   help="split the CPU into N logical devices, e.g. to try --strategy mirrored without GPUs")
    p.add_argument("--validation-fraction", type=float, default=0.1,
                   help="fraction of the points held out (random split, never trained on) for the validation loss "
                   "per timestep bin and the sample metrics; 0 turns both off (default: %(default)s)")
    p.add_argument("--study-samples", type=non_negative_int, default=None,
                   help="points sampled per checkpoint in the checkpoint study (same seed for all); 0 skips the "
                   "study (default: the smaller of --num-samples and 5000)")
    p.add_argument("--no-tensorboard", action="store_true",
                   help="do not write TensorBoard logs (default: scalars and sample images in OUT/tensorboard)")
    p.add_argument("--compare-with", nargs="*", default=[], metavar="DIR",
                   help="earlier runs' output folders to set beside this one in REPORT.md (e.g. the other preset)")
    p.add_argument("--time-limit", type=positive_float, default=None, metavar="MINUTES",
                   help="stop training after the first epoch that ends past MINUTES of training (to compare "
                   "presets on the same training time); the learning-rate decay still spans --epochs")
    p.add_argument("--no-resume", action="store_true",
                   help="start over even if OUT holds an unfinished run (by default, re-running the "
                   "same command resumes from the last completed epoch)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                   help="Keras progress: 0 silent, 1 progress bar, 2 one line per epoch "
                   "(default: 1 on a terminal, else 2)")
    args = p.parse_args(argv)
    if not 0.0 <= args.validation_fraction < 0.5:
        p.error(f"argument --validation-fraction: expected a number in [0, 0.5), got {args.validation_fraction}")
    return args


def resolve(args):
    """Fill the flags left unset from the preset; returns the `Preset`."""
    from keras_ddpm.apps.bicycle.presets import get_preset

    preset = get_preset(args.preset)
    for flag, field in (("epochs", "epochs"), ("batch_size", "batch_size"), ("lr", "learning_rate"),
                        ("lr_decay", "lr_decay"), ("schedule", "schedule"), ("ema_momentum", "ema_momentum"),
                        ("variance", "variance"), ("small_t_fraction", "small_t_fraction"),
                        ("small_t_steps", "small_t_steps")):
        if getattr(args, flag) is None:
            setattr(args, flag, getattr(preset, field))
    every = max(1, args.epochs // 8)
    if args.checkpoint_every is None:
        args.checkpoint_every = every
    if args.plot_every is None:
        args.plot_every = every
    if args.study_samples is None:
        args.study_samples = min(args.num_samples, 5000)
    return preset


def find_data(path):
    """The data file to use: ``--data`` if given, else the documented default locations."""
    return find_input(path, DEFAULT_DATA, HERE,
                      "no bicycle data found: pass --data PATH, or put the file at data/bicycle.txt "
                      "(two whitespace-separated floats per line)")


def main(argv=None):
    args = parse_args(argv)
    data_path = find_data(args.data)
    preset = resolve(args)
    check_output_paths(args)

    from keras_ddpm.training.run_folder import RunLock

    with RunLock(args.out):  # refuses at once if another run writes into --out
        return train_and_report(args, data_path, preset, argv)


def train_and_report(args, data_path, preset, argv=None):
    wall_start = time.time()

    import json

    import keras
    import numpy as np

    from keras_ddpm import DDPMSampler, DiffusionModel, NoiseSchedule
    from keras_ddpm.apps.bicycle.figures import (
        write_final_figures,
        write_partial_diffusion,
        write_preliminary_figures,
    )
    from keras_ddpm.apps.bicycle.report import SUMMARY_FILE, load_summary, write_report
    from keras_ddpm.apps.bicycle.study import REAL_FILE, VALIDATION_FILE, run_study
    from keras_ddpm.data import fused_steps_for, load_points, make_dataset, split_points
    from keras_ddpm.evaluation.points import evaluate, meets_targets
    from keras_ddpm.export import export_sampler
    from keras_ddpm.training.callbacks import SamplePlotter, read_loss_csv
    from keras_ddpm.training.checkpoints import TrainingDiverged
    from keras_ddpm.training.distribute import (
        check_global_batch_size,
        describe,
        make_strategy,
        split_cpu,
        steps_per_execution_for,
    )
    from keras_ddpm.process import timestep_distribution
    from keras_ddpm.training.loop import TrainConfig, compile_model, is_resuming, train
    from keras_ddpm.training.run_folder import check_settings
    from keras_ddpm.utils.io import copy_file, save_model, save_npy, write_text

    # Before TensorFlow initialises its devices (the multi-worker strategy needs that too).
    if args.cpu_devices:
        split_cpu(args.cpu_devices)
    strategy = make_strategy(args.strategy)
    check_global_batch_size(args.batch_size, strategy)

    compare = [load_summary(other) for other in args.compare_with]  # fail early on a bad folder
    verbose = args.verbose if args.verbose is not None else (1 if sys.stdout.isatty() else 2)
    all_points = load_points(data_path)
    # A random split (the file is sorted spatially); the validation points are never trained on.
    points, validation = split_points(all_points, args.validation_fraction, seed=args.seed)
    if args.subset is not None and args.subset < len(points):
        points = points[np.random.default_rng(args.seed).permutation(len(points))[: args.subset]]
    if len(validation) < 10:
        validation = None
    steps_per_epoch = len(points) // args.batch_size
    if args.fused_steps is not None and args.fused_steps > 1 and args.strategy != "default":
        raise ValueError(f"--fused-steps {args.fused_steps} needs --strategy default (a distribution strategy "
                         "would split the stacked minibatches along the step axis)")
    if args.fused_steps is not None and 0 < steps_per_epoch < args.fused_steps:  # 0: make_dataset says why
        raise ValueError(f"--fused-steps {args.fused_steps} is more than the {steps_per_epoch} minibatches "
                         "of an epoch")
    fused_steps = args.fused_steps or (fused_steps_for(max(1, steps_per_epoch)) if args.strategy == "default" else 1)
    updates_per_epoch = steps_per_epoch // fused_steps * fused_steps  # fuse_steps drops the rest
    config = TrainConfig(
        epochs=args.epochs, learning_rate=args.lr, lr_decay=args.lr_decay, ema_momentum=args.ema_momentum,
        steps_per_execution=steps_per_execution_for(strategy, max(1, min(args.steps_per_execution, steps_per_epoch))),
        fused_steps=fused_steps, jit_compile=False if args.no_jit else None,
        checkpoint_every=args.checkpoint_every,
        plot_every=args.plot_every, resume=not args.no_resume,
        verbose=verbose,
    )
    schedule = NoiseSchedule(args.schedule, args.timesteps)
    # Checked here, after --timesteps (by the schedule) and before anything is written.
    timesteps_drawn = timestep_distribution(args.small_t_fraction, args.small_t_steps).check(schedule.timesteps)
    dataset = make_dataset(points, args.batch_size, seed=args.seed, fused_steps=fused_steps)
    print(f"preset: {preset.name} ({preset.description})")
    print(f"strategy: {describe(strategy, args.batch_size)}")
    print(f"data: {len(all_points)} points from {data_path}; training on {len(points)}"
          + (f", {len(validation)} held out for validation" if validation is not None else ""))

    keras.utils.set_random_seed(args.seed)
    out = args.out
    # Refuses to resume an unfinished run in OUT with other settings, before anything is written.
    check_settings(out, {
        "--preset": preset.name, "--data": os.path.abspath(data_path), "--subset": args.subset,
        "--validation-fraction": args.validation_fraction, "--seed": args.seed, "--epochs": args.epochs,
        "--batch-size": args.batch_size, "--lr": args.lr, "--lr-decay": args.lr_decay,
        "--ema-momentum": args.ema_momentum, "--schedule": args.schedule, "--timesteps": args.timesteps,
        "--small-t-fraction": args.small_t_fraction, "--small-t-steps": args.small_t_steps,
        "--fused-steps": fused_steps,
    }, resuming=is_resuming(out, config.resume))
    write_preliminary_figures(points, schedule, out, seed=args.seed, forward_steps=FORWARD_STEPS)
    real = None
    if validation is not None:
        # Real points for the real-vs-real floor: training points, as many as the largest sample.
        count = min(len(points), max(args.num_samples, args.study_samples))
        real = points[np.random.default_rng(args.seed + 1).permutation(len(points))[:count]]
        save_npy(os.path.join(out, VALIDATION_FILE), validation)
        save_npy(os.path.join(out, REAL_FILE), real)

    with strategy.scope():  # variables (weights, optimizer state) are created on every replica
        network = preset.build_network(points.shape[1], seed=args.seed)
        diffusion = DiffusionModel(network, schedule, seed=args.seed, fused_steps=fused_steps,
                                   timestep_distribution=timesteps_drawn)
        model = compile_model(diffusion, config, points.shape[1:], steps_per_epoch=updates_per_epoch)
        shape_check = print_shape_check(network, points.shape[1], args.batch_size, schedule.timesteps)

    tensorboard_dir = None if args.no_tensorboard else os.path.join(out, "tensorboard")
    sampler = DDPMSampler(schedule, variance=args.variance, jit_compile=True)
    plotter = SamplePlotter(sampler, args.plot_samples, os.path.join(out, "samples"), args.plot_every,
                            seed=args.seed, data_shape=points.shape[1:],
                            tensorboard_dir=None if tensorboard_dir is None else os.path.join(tensorboard_dir, "samples"))
    start = time.time()
    try:
        train(model, dataset, out, config, extra_callbacks=[plotter], validation_points=validation,
              tensorboard_dir=tensorboard_dir, seed=args.seed,
              time_limit=None if args.time_limit is None else 60.0 * args.time_limit)
    except TrainingDiverged as err:  # one line; the checkpoints and the resume backup are the last good ones
        print(f"train_bicycle.py: error: {err}", file=sys.stderr)
        return 1
    train_seconds = time.time() - start
    print(f"training: {train_seconds:.1f} s")

    final = save_model(model, os.path.join(out, "model.keras"))
    if args.save_model.lower() != "none":
        copy_file(final, args.save_model)
    export_dir = export_path(args)
    if export_dir is not None:
        export_sampler(model, export_dir, variance=args.variance)
        print(f"exported the samplers (SavedModel) to {export_dir}; sample with: "
              f"python sample.py {export_dir} --n 20000 --seed 0 --out samples.npy")

    start = time.time()
    files = write_final_figures(network, sampler, points, out, num_samples=args.num_samples,
                                seed=args.seed, gif_frames=args.gif_frames, progress=verbose)
    sample_seconds = time.time() - start
    print(f"sampling {args.num_samples} points and drawing: {sample_seconds:.1f} s")
    files += ["data.png", "schedules.png", "forward_process.png", "loss.png"]
    times = {"train_s": train_seconds, "sample_s": sample_seconds}

    epochs_logged, columns = read_loss_csv(os.path.join(out, "loss.csv"))
    summary = {
        "preset": preset.name, "preset_description": preset.description,
        "command": "train_bicycle.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "network_class": type(network).__name__, "parameters": int(network.count_params()),
        "shape_check": shape_check, "variance": args.variance, "num_samples": args.num_samples,
        "config": {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.lr,
                   "lr_decay": args.lr_decay, "ema_momentum": args.ema_momentum, "schedule": args.schedule,
                   "timesteps": args.timesteps, "seed": args.seed, "small_t_fraction": args.small_t_fraction,
                   "small_t_steps": args.small_t_steps, **preset.network_kwargs},
        "data": {"path": data_path, "num_points": len(all_points), "num_train": len(points),
                 "num_validation": 0 if validation is None else len(validation)},
        "epochs_trained": int(epochs_logged[-1]) if len(epochs_logged) else 0,
        "time_limit_minutes": args.time_limit,
        "final_loss": float(columns["loss"][-1]) if "loss" in columns else None,
        "final_val_loss": float(columns["val_loss"][-1]) if "val_loss" in columns else None,
        "tensorboard_dir": tensorboard_dir,
    }
    if validation is not None:
        start = time.time()
        samples = np.load(os.path.join(out, "samples.npy"))
        metrics = evaluate(samples, validation, real, seed=args.seed)
        metrics["meets_targets"] = meets_targets(metrics)
        summary["metrics"] = metrics
        print("metrics (samples vs held-out | real vs held-out): " + ", ".join(
            f"{k} {metrics[k]:.4f} | {metrics[k + '_floor']:.4f}" for k in ("sliced_w1", "mmd", "precision", "recall")))
        summary["partial_diffusion"] = write_partial_diffusion(network, sampler, validation, out, seed=args.seed)
        files.append("partial_diffusion.png")
        times["metrics_and_partial_diffusion_s"] = time.time() - start
        if args.study_samples:
            start = time.time()
            study = run_study(out, num_samples=args.study_samples, seed=args.seed, variance=args.variance,
                              validation=validation, real=real)
            summary["study"] = {"num_samples": args.study_samples, "rows": study["rows"],
                                "answer": study["answer"]["text"]}
            files += study["files"]
            times["study_s"] = time.time() - start
            print(study["answer"]["text"])
    times["total_s"] = time.time() - wall_start
    summary["times"] = times
    summary["files"] = files
    write_text(os.path.join(out, SUMMARY_FILE), json.dumps(summary, indent=2, default=_json_default))
    write_report(out, json.loads(json.dumps(summary, default=_json_default)), compare)
    files += [SUMMARY_FILE, "REPORT.md"]
    for name in files:
        print(f"wrote {os.path.join(out, name)}")
    print(f"total: {times['total_s']:.1f} s")
    return 0


def _json_default(value):
    import numpy as np

    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def check_output_paths(args):
    """Check --save-model and --export before training, so a bad path costs no training time and
    neither output can replace the other or a user's files."""
    from keras_ddpm.export import check_export_target

    save_model = save_model_path(args.save_model)
    export_dir = export_path(args)
    if export_dir is not None:
        check_export_target(export_dir)
        if save_model is not None and _inside(save_model, export_dir):
            raise ValueError(f"--save-model {save_model} lies inside the --export folder {export_dir}, which "
                             "holds only the SavedModel: put the .keras file elsewhere")


def _inside(path, folder) -> bool:
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return os.path.commonpath([path, folder]) == folder


def export_path(args):
    """Where the SavedModel goes: --export, else next to --save-model (without .keras), else nowhere."""
    if args.export is not None:
        return None if args.export.lower() == "none" else args.export
    if args.save_model.lower() == "none":
        return None
    return os.path.splitext(args.save_model)[0]


def print_shape_check(network, data_dim, batch, timesteps):
    """Run the untrained network once and print its input and output shapes."""
    import numpy as np

    x = np.zeros((batch, data_dim), np.float32)
    t = np.random.default_rng(0).integers(0, timesteps, size=batch)
    y = network([x, t])
    line = (f"x_t {x.shape} + t {t.shape} -> eps {tuple(y.shape)}; "
            f"{network.count_params():,} parameters")
    print(f"shape check (untrained): {line}")
    if tuple(y.shape) != x.shape:
        raise RuntimeError(f"network output {tuple(y.shape)} does not match its input {x.shape}")
    return line


if __name__ == "__main__":
    sys.exit(run_cli(main, prog="train_bicycle.py"))
