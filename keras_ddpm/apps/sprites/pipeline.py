"""The sprites assignment end to end: train a class-conditional UNet DDPM on 16x16 sprites, then
draw DDPM, DDIM and per-class grids, export the samplers, and (``--evaluate``) time and score DDPM
against DDIM. ``train_sprites.py`` parses the flags and calls `run`.
"""

from __future__ import annotations

import json
import os
import sys
import time


def run(args, data_dir) -> int:
    """Train and sample as the flags ``args`` say (one run per ``args.out`` at a time)."""
    from keras_ddpm.apps.pipeline import check_outputs
    from keras_ddpm.training.run_folder import RunLock

    save_model, export_dir = check_outputs(args.save_model, args.export, args.out)
    with RunLock(args.out):  # refuses at once if another run writes into --out
        return train_and_sample(args, data_dir, save_model, export_dir)


def load_sprites(args, data_dir):
    """``(builder, class names, images, labels)`` through the TFDS builder; ``--subset`` takes a
    seeded random subset."""
    import numpy as np
    import tensorflow_datasets as tfds

    from keras_ddpm.apps.sprites.tfds_builder import class_names, sprites_builder

    builder = sprites_builder(data_dir, args.images, args.labels, data_dir=args.tfds_dir)
    images, labels = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1, as_supervised=True))
    if args.subset is not None and args.subset < len(images):
        keep = np.sort(np.random.default_rng(args.seed).permutation(len(images))[: args.subset])
        images, labels = images[keep], labels[keep]
    return builder, class_names(builder), images, labels


def train_and_sample(args, data_dir, save_model, export_dir) -> int:
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_ddpm import DDPMSampler, DiffusionModel, NoiseSchedule
    from keras_ddpm.apps.flags import verbosity
    from keras_ddpm.apps.pipeline import save_outputs
    from keras_ddpm.apps.sprites.data import make_image_dataset, to_model_range
    from keras_ddpm.apps.sprites.figures import (
        class_rows,
        forward_process_rows,
        image_grid,
        sample_figure,
    )
    from keras_ddpm.apps.sprites.report import SUMMARY_FILE, write_report
    from keras_ddpm.utils.io import write_text
    from keras_ddpm.utils.plots import alphas_cumprod_curves
    from keras_ddpm.data import split_indices
    from keras_ddpm.layers import apply_precision
    from keras_ddpm.networks.unet import UNet
    from keras_ddpm.samplers import DDIMSampler
    from keras_ddpm.training.callbacks import SamplePlotter
    from keras_ddpm.training.loop import TrainConfig, compile_model, finish_run, is_resuming, train
    from keras_ddpm.training.run_folder import check_settings

    verbose = verbosity(args.verbose)
    builder, names, images, labels = load_sprites(args, data_dir)
    data_shape = images.shape[1:]
    print(f"data: {len(images)} sprites {data_shape}, {len(names)} classes ({', '.join(names)}) "
          f"from {data_dir} via TFDS config {builder.builder_config.name!r}")
    train_index, val_index = split_indices(len(images), args.validation_fraction, seed=args.seed)
    if args.validation_fraction > 0:
        print(f"training on {len(train_index)} sprites, {len(val_index)} held out for the validation loss")
    train_images, train_labels = images[train_index], labels[train_index]
    dataset = make_image_dataset(tf.data.Dataset.from_tensor_slices((train_images, train_labels)),
                                 args.batch_size, seed=args.seed, augment=args.augment, repeat=args.repeat)
    steps_per_epoch = int(dataset.cardinality())

    out = args.out
    # Refuses to resume an unfinished run in OUT with other settings, before anything is written.
    check_settings(out, {
        "--preset": args.preset, "--data": os.path.abspath(data_dir), "--images": args.images,
        "--labels": args.labels, "--subset": args.subset, "--validation-fraction": args.validation_fraction,
        "--seed": args.seed, "--epochs": args.epochs, "--batch-size": args.batch_size, "--lr": args.lr,
        "--lr-decay": args.lr_decay, "--base-features": args.base_features,
        "--attention-levels": list(args.attention_levels), "--repeat": args.repeat,
        "--augment": args.augment, "--schedule": args.schedule, "--timesteps": args.timesteps,
        "--class-dropout": args.class_dropout, "--prediction": args.prediction, "--min-snr-gamma": args.min_snr_gamma,
        "--unconditional": args.unconditional, "--ema-momentum": args.ema_momentum,
        **({"--mixed-precision": args.mixed_precision} if args.mixed_precision != "none" else {}),
    }, resuming=is_resuming(out, not args.no_resume))
    keras.utils.set_random_seed(args.seed)
    per_class = 10
    class_rows([(name, images[labels == k][:per_class]) for k, name in enumerate(names)],
               os.path.join(out, "data.png"), title="training data, 10 per class")

    jit = not args.no_jit
    config = TrainConfig(
        epochs=args.epochs, learning_rate=args.lr, lr_decay=args.lr_decay, ema_momentum=args.ema_momentum,
        steps_per_execution=min(args.steps_per_execution, steps_per_epoch), jit_compile=None if jit else False,
        checkpoint_every=args.checkpoint_every, plot_every=args.plot_every, resume=not args.no_resume,
        verbose=verbose,
    )
    schedule = NoiseSchedule(args.schedule, args.timesteps)
    alphas_cumprod_curves([NoiseSchedule(kind, args.timesteps) for kind in ("linear", "cosine")],
                          os.path.join(out, "schedules.png"))
    sample_rng = np.random.default_rng(args.seed)
    forward_process_rows(to_model_range(images[sample_rng.choice(len(images), 4, replace=False)]), schedule,
                         os.path.join(out, "forward_process.png"), seed=args.seed)
    num_classes = None if args.unconditional else len(names)
    network = apply_precision(UNet(channels=data_shape[-1], base_features=args.base_features, num_classes=num_classes,
                                   attention_levels=args.attention_levels), args.mixed_precision)
    model = DiffusionModel(network, schedule, seed=args.seed,
                           class_dropout=0.0 if args.unconditional else args.class_dropout,
                           prediction=args.prediction, min_snr_gamma=args.min_snr_gamma)
    compile_model(model, config, data_shape, steps_per_epoch)
    print(f"UNet: {network.count_params():,} parameters, base features {args.base_features}, "
          f"{'unconditional' if num_classes is None else f'{num_classes} classes + no-class'}; "
          f"{steps_per_epoch} steps per epoch of batch {args.batch_size}")

    tensorboard_dir = None if args.no_tensorboard else os.path.join(out, "tensorboard")
    ddpm = DDPMSampler(schedule, clip_x0=(-1.0, 1.0), jit_compile=jit, prediction=args.prediction)
    ddim = DDIMSampler(schedule, num_steps=args.ddim_steps, eta=args.eta, clip_x0=(-1.0, 1.0), jit_compile=jit,
                       prediction=args.prediction)
    # The periodic grids use DDIM (--ddim-steps): a full DDPM loop every few epochs would cost
    # several epochs of training each time.
    plotter = SamplePlotter(
        ddim, args.plot_samples, os.path.join(out, "samples"), args.plot_every, seed=args.seed,
        data_shape=data_shape, tensorboard_dir=None if tensorboard_dir is None else os.path.join(tensorboard_dir, "samples"),
        picture=lambda network, path, title: sample_figure(  # a grid, or one row per class
            ddim, network, path, args.plot_samples, data_shape, seed=args.seed, class_names=names,
            guidance_scale=args.guidance_scale, title=f"{title} (DDIM, {args.ddim_steps} steps)"))
    validation = None
    if len(val_index):
        validation = to_model_range(images[val_index])
    start = time.time()
    fit_data = dataset if num_classes else dataset.map(lambda x, y: x)
    train(model, fit_data, out, config, extra_callbacks=[plotter], validation_points=validation,
          validation_labels=None if validation is None or not num_classes else labels[val_index],
          tensorboard_dir=tensorboard_dir, seed=args.seed,
          keep_backup=True)  # until the report is written: a kill after training retrains nothing
    train_seconds = time.time() - start
    print(f"training: {train_seconds:.1f} s")
    save_outputs(model, out, save_model, export_dir, clip_x0=(-1.0, 1.0))

    # Final grids: unconditional DDPM and DDIM (w = 0 for a conditional network), then per class.
    shape = (args.num_samples,) + tuple(data_shape)
    grid_seconds = {}
    for name, sampler, label in (("ddpm", ddpm, f"DDPM, {args.timesteps} steps"),
                                 ("ddim", ddim, f"DDIM, {args.ddim_steps} steps, eta {args.eta:g}")):
        start = time.time()
        samples = sampler.sample(network, shape, seed=args.seed)  # no labels: unconditional
        seconds = grid_seconds[name] = time.time() - start
        path = image_grid(samples, os.path.join(out, f"samples_{name}.png"), cols=10,
                          title=f"{label}: {args.num_samples} samples, {seconds:.1f} s")
        print(f"{label}: {args.num_samples} samples in {seconds:.1f} s (incl. compiling) -> {path}")
    if num_classes:
        path = os.path.join(out, "samples_per_class.png")
        sample_figure(ddpm, network, path, args.num_samples, data_shape, seed=args.seed, class_names=names,
                      guidance_scale=args.guidance_scale,
                      title=f"DDPM, one row per class, guidance scale {args.guidance_scale:g}")
        print(f"per-class samples -> {path}")

    result = None
    if args.evaluate:
        from keras_ddpm.apps.sprites import evaluation

        result = evaluation.evaluate(
            network, schedule, images, labels, os.path.join(out, "eval"),
            ddim_steps=evaluation.parse_steps(args.eval_ddim_steps, args.timesteps), etas=args.eval_etas,
            modes=args.eval_modes, per_class=args.eval_per_class, guidance_scale=args.guidance_scale,
            num_samples=args.eval_samples, seed=args.seed, jit_compile=jit, train_index=train_index,
            classifier_path=args.classifier or evaluation.default_classifier_path(builder),
            inception_weights=args.inception_weights, verbose=verbose, class_names=names,
            prediction=args.prediction,
        )

    losses = _read_losses(os.path.join(out, "loss.csv"))
    counts = np.bincount(labels, minlength=len(names))
    summary = {
        "preset": args.preset, "command": " ".join(["train_sprites.py"] + sys.argv[1:]),
        "data": {"count": int(len(images)), "shape": list(map(int, data_shape)), "classes": list(names),
                 "class_counts": counts.tolist(), "folder": os.path.abspath(data_dir), "held_out": int(len(val_index))},
        "schedule": {"kind": schedule.kind, "timesteps": schedule.timesteps,
                     "last_alphas_cumprod": float(schedule.alphas_cumprod[-1])},
        "model": {"parameters": int(network.count_params()), "base_features": args.base_features,
                  "attention_levels": list(args.attention_levels),
                  "conditioning": "unconditional" if num_classes is None else
                  f"{num_classes} classes + a 'no class' label (label dropout {args.class_dropout:g})"},
        "training": {"epochs": args.epochs, "steps_per_epoch": steps_per_epoch, "batch_size": args.batch_size,
                     "lr": args.lr, "lr_decay": args.lr_decay, "ema_momentum": args.ema_momentum,
                     "prediction": args.prediction, "min_snr_gamma": args.min_snr_gamma,
                     "augment": args.augment, "seconds": train_seconds,
                     "images_per_second": args.epochs * steps_per_epoch * args.batch_size / max(train_seconds, 1e-9),
                     "final_loss": losses[-1] if losses else float("nan")},
        "grids": {"ddim_steps": args.ddim_steps, "eta": args.eta, "guidance_scale": args.guidance_scale,
                  "seconds": grid_seconds},
        "evaluation": result,
        "files": sorted(_written_files(out)),
    }
    write_text(os.path.join(out, SUMMARY_FILE), json.dumps(summary, indent=2) + "\n")
    print(f"report -> {write_report(out, summary)}")
    finish_run(out)  # the run is complete: the same command again starts a new one
    return 0


def _read_losses(path) -> list[float]:
    """The ``loss`` column of a `keras.callbacks.CSVLogger` file (empty when there is none)."""
    import csv

    if not os.path.exists(path):
        return []
    with open(path, newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


def _written_files(out) -> list[str]:
    """Paths of the files under ``out``, relative to it (the report links only to these)."""
    from keras_ddpm.training.loop import BACKUP_DIR

    found = []
    for folder, _, files in os.walk(out):
        found += [os.path.relpath(os.path.join(folder, name), out) for name in files]
    return [name for name in found if name.split(os.sep)[0] != BACKUP_DIR]  # the resume state is no output
