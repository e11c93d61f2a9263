"""The bicycle assignment end to end: train a DDPM on 2D points, then write every figure, the
metrics against held-out points, partial diffusion, the checkpoint study, ``summary.json`` and
``REPORT.md`` into the output folder. ``train_bicycle.py`` parses the flags and calls `run`.
"""

from __future__ import annotations

import json
import os
import sys
import time

FORWARD_STEPS = (0, 5, 50, 100, 250, 500, 750, 999)
PLOT_DDIM_STEPS = 100  # steps of the sampler of the periodic pictures


def run(args, data_path, preset, command: str) -> int:
    """Train and report as the flags ``args`` say (one run per ``args.out`` at a time)."""
    from keras_ddpm.apps.pipeline import check_outputs, worker_run
    from keras_ddpm.training.distribute import is_chief, make_strategy, split_cpu
    from keras_ddpm.training.run_folder import RunLock

    save_model, export_dir = check_outputs(args.save_model, args.export, args.out)
    # Before TensorFlow initialises its devices (the multi-worker strategy needs that too).
    if args.cpu_devices:
        split_cpu(args.cpu_devices)
    strategy = make_strategy(args.strategy)
    if not is_chief(strategy):  # a multi-worker run's other workers: train, write nothing of the run's
        return worker_run(args, strategy, export_dir, lambda worker_args, model, export: train_and_report(
            worker_args, data_path, preset, model, export, command, strategy, chief=False))
    with RunLock(args.out):  # refuses at once if another run writes into --out
        return train_and_report(args, data_path, preset, save_model, export_dir, command, strategy)


def train_and_report(args, data_path, preset, save_model, export_dir, command: str, strategy,
                     chief: bool = True) -> int:
    """Train, then (on the chief only) sample, evaluate and report; a non-chief worker of a
    multi-worker run returns once it has saved the model, as the chief does (see `worker_run`)."""
    wall_start = time.time()


    import keras
    import numpy as np

    from keras_ddpm import DDIMSampler, DDPMSampler, DiffusionModel, NoiseSchedule
    from keras_ddpm.apps.bicycle.figures import (
        write_final_figures,
        write_partial_diffusion,
        write_preliminary_figures,
    )
    from keras_ddpm.apps.bicycle.report import SUMMARY_FILE, load_summary, write_report
    from keras_ddpm.apps.bicycle.study import REAL_FILE, VALIDATION_FILE, run_study
    from keras_ddpm.apps.flags import verbosity
    from keras_ddpm.apps.pipeline import save_outputs
    from keras_ddpm.data import fused_steps_for, load_points, make_dataset, split_points
    from keras_ddpm.evaluation.points import evaluate, meets_targets
    from keras_ddpm.layers import apply_precision
    from keras_ddpm.process import timestep_distribution
    from keras_ddpm.training.callbacks import (
        DurationEstimate,
        SamplePlotter,
        TrainingDiverged,
        read_loss_csv,
    )
    from keras_ddpm.training.distribute import (
        check_global_batch_size,
        describe,
        shard_by_data,
        steps_per_execution_for,
    )
    from keras_ddpm.training.loop import TrainConfig, compile_model, is_resuming, train
    from keras_ddpm.training.run_folder import check_settings
    from keras_ddpm.utils.io import save_npy, write_text

    check_global_batch_size(args.batch_size, strategy)

    compare = [load_summary(other) for other in args.compare_with]  # fail early on a bad folder
    verbose = verbosity(args.verbose)
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
    dataset = shard_by_data(make_dataset(points, args.batch_size, seed=args.seed, fused_steps=fused_steps))
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
        **({"--mixed-precision": args.mixed_precision} if args.mixed_precision != "none" else {}),
    }, resuming=is_resuming(out, config.resume))
    if chief:
        write_preliminary_figures(points, schedule, out, seed=args.seed, forward_steps=FORWARD_STEPS)
    real = None
    if validation is not None:
        # Real points for the real-vs-real floor: training points, as many as the largest sample.
        count = min(len(points), max(args.num_samples, args.study_samples))
        real = points[np.random.default_rng(args.seed + 1).permutation(len(points))[:count]]
        save_npy(os.path.join(out, VALIDATION_FILE), validation)
        save_npy(os.path.join(out, REAL_FILE), real)

    with strategy.scope():  # variables (weights, optimizer state) are created on every replica
        network = apply_precision(preset.build_network(points.shape[1], seed=args.seed), args.mixed_precision)
        diffusion = DiffusionModel(network, schedule, seed=args.seed, fused_steps=fused_steps,
                                   timestep_distribution=timesteps_drawn)
        model = compile_model(diffusion, config, points.shape[1:], steps_per_epoch=updates_per_epoch)
        shape_check = print_shape_check(network, points.shape[1], args.batch_size, schedule.timesteps)

    tensorboard_dir = None if args.no_tensorboard else os.path.join(out, "tensorboard")
    sampler = DDPMSampler(schedule, variance=args.variance, jit_compile=not args.no_jit)
    # The progress pictures during training: DDIM with eta = 1 on every 10th timestep, a stochastic
    # sampler of the same model at a tenth of Algorithm 2's cost (all T steps would cost a short
    # run a third of its training time); the final samples, GIF and study use Algorithm 2.
    plot_steps = max(1, min(PLOT_DDIM_STEPS, schedule.timesteps))
    plot_sampler = DDIMSampler(schedule, num_steps=plot_steps, eta=1.0, jit_compile=not args.no_jit)
    plotter = SamplePlotter(plot_sampler, args.plot_samples, os.path.join(out, "samples"), args.plot_every,
                            seed=args.seed, data_shape=points.shape[1:],
                            sampler_name=f"DDIM, {plot_steps} steps, eta 1",
                            tensorboard_dir=None if tensorboard_dir is None else os.path.join(tensorboard_dir, "samples"))
    extra_callbacks = [plotter]
    if chief:  # the run's duration, said where the run is reported
        during, after = expected_sampling_seconds(sampler, plot_sampler, network, points.shape[1:], args,
                                                  with_validation=validation is not None)
        extra_callbacks.append(DurationEstimate(after_training_seconds=after, extra_training_seconds=during,
                                                time_limit=None if args.time_limit is None else 60.0 * args.time_limit))
    start = time.time()
    try:
        train(model, dataset, out, config, extra_callbacks=extra_callbacks, validation_points=validation,
              tensorboard_dir=tensorboard_dir, seed=args.seed,
              time_limit=None if args.time_limit is None else 60.0 * args.time_limit,
              keep_backup=True)  # until the report is written: a kill after training retrains nothing
    except TrainingDiverged as err:  # one line; the checkpoints and the resume backup are the last good ones
        print(f"{command.split()[0]}: error: {err}", file=sys.stderr)
        return 1
    train_seconds = time.time() - start
    print(f"training: {train_seconds:.1f} s")

    save_outputs(model, out, save_model, export_dir, quiet=not chief, variance=args.variance)
    if not chief:
        return 0

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
        "command": command,
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
    from keras_ddpm.training.loop import finish_run

    finish_run(out)  # the run is complete: the same command again starts a new one
    return 0


def _json_default(value):
    import numpy as np

    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def expected_sampling_seconds(sampler, plot_sampler, network, data_shape, args, with_validation: bool = True):
    """Seconds of sampling during training (the periodic pictures, drawn by ``plot_sampler``) and
    after it (``sampler``: the final sample, partial diffusion and the checkpoint study) on this
    machine. One reverse step is timed on the final sample's batch and on the partial diffusion's
    (`Sampler.seconds_per_step`, which also compiles the loops those jobs would compile anyway), and
    one step of ``plot_sampler`` on a picture's batch; each job is priced at its own batch size.
    Prints what it expects after training."""
    import numpy as np

    from keras_ddpm.apps.bicycle.figures import PARTIAL_POINTS, PARTIAL_T0

    steps = len(sampler.timestep_sequence)
    final_step = sampler.seconds_per_step(network, (args.num_samples,) + tuple(data_shape))
    small_step = sampler.seconds_per_step(network, (PARTIAL_POINTS,) + tuple(data_shape))
    plot_step = plot_sampler.seconds_per_step(network, (args.plot_samples,) + tuple(data_shape))
    sizes = sorted({(PARTIAL_POINTS, small_step / PARTIAL_POINTS), (args.num_samples, final_step / args.num_samples)})

    def point_seconds(batch):  # per point and step: small batches use the cores less well
        return float(np.exp(np.interp(np.log(batch), np.log([b for b, _ in sizes]), np.log([c for _, c in sizes]))))

    plots = -(-args.epochs // args.plot_every)
    checkpoints = -(-args.epochs // args.checkpoint_every)
    after = args.num_samples * steps * point_seconds(args.num_samples)
    if with_validation:
        after += PARTIAL_POINTS * sum(t0 for t0 in PARTIAL_T0 if t0 <= steps) * point_seconds(PARTIAL_POINTS)
        if args.study_samples:
            after += args.study_samples * checkpoints * steps * point_seconds(args.study_samples)
    during = plots * len(plot_sampler.timestep_sequence) * plot_step
    print(f"timed one reverse step on {args.num_samples:,} points: {final_step:.3f} s, so sampling takes about "
          f"{after / 60:.1f} min after training (final sample, partial diffusion, checkpoint study) and "
          f"{during / 60:.1f} min for the {plots} periodic plots; the training time follows after two epochs",
          flush=True)
    return during, after


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


