"""The sprites assignment end to end: train a class-conditional UNet DDPM on 16x16 sprites, then
draw DDPM, DDIM and per-class grids, export the samplers, and (``--evaluate``) time and score DDPM
against DDIM. ``train_sprites.py`` parses the flags and calls `run`.
"""

from __future__ import annotations

import os
import time


def run(args, data_dir) -> int:
    """Train and sample as the flags ``args`` say (one run per ``args.out`` at a time)."""
    from keras_ddpm.apps.pipeline import check_outputs
    from keras_ddpm.training.run_folder import RunLock

    save_model, export_dir = check_outputs(args.save_model, args.export)
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
    import tensorflow as tf

    from keras_ddpm import DDPMSampler, DiffusionModel, NoiseSchedule
    from keras_ddpm.apps.flags import verbosity
    from keras_ddpm.apps.pipeline import save_outputs
    from keras_ddpm.apps.sprites.data import make_image_dataset, to_model_range
    from keras_ddpm.apps.sprites.figures import (
        class_rows,
        image_grid,
        sample_figure,
    )
    from keras_ddpm.data import split_indices
    from keras_ddpm.networks.unet import UNet
    from keras_ddpm.samplers import DDIMSampler
    from keras_ddpm.training.callbacks import SamplePlotter
    from keras_ddpm.training.loop import TrainConfig, compile_model, is_resuming, train
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
        "--lr-decay": args.lr_decay, "--base-features": args.base_features, "--repeat": args.repeat,
        "--augment": args.augment, "--timesteps": args.timesteps, "--class-dropout": args.class_dropout,
        "--unconditional": args.unconditional, "--ema-momentum": args.ema_momentum,
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
    schedule = NoiseSchedule("linear", args.timesteps)
    num_classes = None if args.unconditional else len(names)
    network = UNet(channels=data_shape[-1], base_features=args.base_features, num_classes=num_classes)
    model = DiffusionModel(network, schedule, seed=args.seed,
                           class_dropout=0.0 if args.unconditional else args.class_dropout)
    compile_model(model, config, data_shape, steps_per_epoch)
    print(f"UNet: {network.count_params():,} parameters, base features {args.base_features}, "
          f"{'unconditional' if num_classes is None else f'{num_classes} classes + no-class'}; "
          f"{steps_per_epoch} steps per epoch of batch {args.batch_size}")

    tensorboard_dir = None if args.no_tensorboard else os.path.join(out, "tensorboard")
    ddpm = DDPMSampler(schedule, jit_compile=jit)
    plotter = SamplePlotter(
        ddpm, args.plot_samples, os.path.join(out, "samples"), args.plot_every, seed=args.seed,
        data_shape=data_shape, tensorboard_dir=None if tensorboard_dir is None else os.path.join(tensorboard_dir, "samples"),
        picture=lambda network, path, title: sample_figure(  # a grid, or one row per class
            ddpm, network, path, args.plot_samples, data_shape, seed=args.seed, class_names=names,
            guidance_scale=args.guidance_scale, title=title))
    validation = None
    if len(val_index):
        validation = to_model_range(images[val_index])
    start = time.time()
    fit_data = dataset if num_classes else dataset.map(lambda x, y: x)
    train(model, fit_data, out, config, extra_callbacks=[plotter], validation_points=validation,
          validation_labels=None if validation is None or not num_classes else labels[val_index],
          tensorboard_dir=tensorboard_dir, seed=args.seed)
    print(f"training: {time.time() - start:.1f} s")
    save_outputs(model, out, save_model, export_dir, clip_x0=(-1.0, 1.0))

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
        from keras_ddpm.apps.sprites import evaluation

        evaluation.evaluate(
            network, schedule, images, labels, os.path.join(out, "eval"),
            ddim_steps=evaluation.parse_steps(args.eval_ddim_steps, args.timesteps),
            num_samples=args.eval_samples, seed=args.seed, jit_compile=jit,
            classifier_path=args.classifier or evaluation.default_classifier_path(builder),
            inception_weights=args.inception_weights, verbose=verbose,
        )
    return 0
