"""Speed of the sprite UNet (training and sampling) against what this CPU's convolutions can do.

    python -m benchmarks.sprites               # ~4 minutes on 2 cores; `python -m benchmarks.speed` runs it too
    python -m benchmarks.sprites --quick       # small sizes: checks that the benchmark works

Measured in one process, so the fractions are what count:

- the **conv peak**: GFLOP/s of chained 3x3 convolutions at the UNet's own shapes (16x16xF,
  8x8x2F and 4x4x2F at the training and the sampling batch), in one compiled loop with and
  without XLA, the best of all;
- the UNet's FLOPs per image (TensorFlow's graph profiler): one forward pass (a sampling step)
  and one training step (forward + backward);
- training images/s of ``model.fit`` (the training scripts' setting: ``steps_per_execution``
  10, no XLA, and with XLA) at the course's size (F = 64, batch 100) and the CPU preset's
  (F = 32, batch 32);
- sampling images/s of 648 sprites (the evaluation's sample count): DDIM-25 timed whole, DDPM
  timed over ``--ddpm-steps`` of its T steps and scaled (every step costs the same).

oneDNN is chosen once per process when TensorFlow loads: run with ``TF_ENABLE_ONEDNN_OPTS=0`` or
``1`` to measure either (`benchmarks.speed` runs this module in a child process with oneDNN on,
the setting ``train_sprites.py`` uses).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.measure import graph_flops, median_seconds, write_results  # noqa: E402

SAMPLES = 648  # half of the 1,297 NetHack sprites: the evaluation's sample count
SIZES = {"course": (64, 100), "cpu": (32, 32)}  # preset -> (base features, training batch)


def conv_peak(shapes, repeats: int, seconds: float = 0.4) -> dict:
    """GFLOP/s of chained ``3x3, C -> C`` convolutions (``'same'``) on ``(batch, size, size, C)``, per shape."""
    rng = np.random.default_rng(0)
    results = {}
    for batch, size, channels in shapes:
        w = tf.constant(rng.normal(scale=(9 * channels) ** -0.5, size=(3, 3, channels, channels)), tf.float32)
        x = tf.constant(rng.normal(size=(batch, size, size, channels)), tf.float32)
        flops = 2.0 * batch * size * size * channels * channels * 9
        reps = max(4, int(seconds * 100e9 / flops))
        best = 0.0
        for jit in (False, True):
            @tf.function(jit_compile=jit)
            def chain(x):
                return tf.while_loop(lambda i, x: i < reps,
                                     lambda i, x: (i + 1, tf.nn.conv2d(x, w, 1, "SAME")), (0, x))[1]

            best = max(best, flops * reps / median_seconds(lambda: chain(x).numpy(), repeats) / 1e9)
        results[f"{batch}x{size}x{size}x{channels}"] = best
    return results


def make_unet(features: int, num_classes: int = 7):
    from keras_ddpm.networks.unet import UNet

    network = UNet(base_features=features, num_classes=num_classes)
    network.build([(None, 16, 16, 3), (None,), (None,)])
    return network


def unet_flops(network, batch: int = 8) -> dict:
    """Per-image FLOPs of one forward pass and of one training step (forward + backward)."""
    specs = (tf.TensorSpec([batch, 16, 16, 3]), tf.TensorSpec([batch], tf.int32), tf.TensorSpec([batch], tf.int32))

    def forward(x, t, y):
        return network([x, t, y])

    def step(x, t, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(network([x, t, y], training=True) - x))
        return tape.gradient(loss, network.trainable_variables)

    return {"forward": graph_flops(forward, *specs) / batch, "train": graph_flops(step, *specs) / batch}


def training_speed(features: int, batch: int, steps: int, repeats: int, jit: bool) -> float:
    """Images/s of ``DiffusionModel.fit`` on the UNet (T = 500), ``steps_per_execution`` 10."""
    import keras

    from keras_ddpm import DiffusionModel, NoiseSchedule

    model = DiffusionModel(make_unet(features), NoiseSchedule("linear", 500), seed=0, class_dropout=0.1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=10, jit_compile=jit)
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (steps * batch, 16, 16, 3)).astype(np.float32)
    labels = rng.integers(0, 7, steps * batch).astype(np.int32)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch).cache().prefetch(4)
    return steps * batch / median_seconds(lambda: model.fit(dataset, epochs=1, verbose=0), repeats)


def sampling_speed(network, samples: int, ddpm_steps: int, repeats: int) -> dict:
    """Seconds of DDIM-25 and of DDPM (T = 500; ``ddpm_steps`` timed, scaled to T) on ``samples`` images,
    conditional (one network call per step)."""
    from keras_ddpm import DDIMSampler, DDPMSampler, NoiseSchedule
    from keras_ddpm.samplers.base import initial_noise

    schedule = NoiseSchedule("linear", 500)
    x = initial_noise((samples, 16, 16, 3), 0)
    labels = np.arange(samples) % 7
    ddim = DDIMSampler(schedule, num_steps=25, clip_x0=(-1, 1), jit_compile=True)
    ddpm = DDPMSampler(schedule, jit_compile=True)
    T = schedule.timesteps
    ddim_s = median_seconds(lambda: ddim.run(network, x, seed=0, labels=labels), repeats)
    ddpm_s = median_seconds(lambda: ddpm.run(network, x, seed=0, start=T - ddpm_steps, labels=labels),
                            repeats) * T / ddpm_steps
    return {"DDIM-25": {"steps": 25, "seconds": ddim_s}, "DDPM-500": {"steps": T, "seconds": ddpm_s,
                                                                       "measured_steps": ddpm_steps}}


def run(args) -> dict:
    quick = args.quick
    repeats = 1 if quick else args.repeats
    samples = 64 if quick else SAMPLES
    results = {"onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"), "samples": samples, "rows": []}
    shapes = sorted({(b, s, c) for f, b in SIZES.values() for s, c in ((16, f), (8, 2 * f), (4, 2 * f))}
                    | {(samples, 16, 32), (samples, 8, 64)})
    print("conv peak ...", flush=True)
    results["conv_gflops"] = conv_peak(shapes, repeats, seconds=0.05 if quick else 0.4)
    peak = results["peak_gflops"] = max(results["conv_gflops"].values())
    for preset, (features, batch) in SIZES.items():
        network = make_unet(features)
        flops = unet_flops(network)
        for jit in (False, True):
            print(f"training {preset} (F={features}, batch {batch}, XLA {jit}) ...", flush=True)
            speed = training_speed(features, batch, 4 if quick else args.train_steps, repeats, jit)
            results["rows"].append({"work": "training", "preset": preset, "features": features, "batch": batch,
                                    "xla": jit, "images_per_s": speed,
                                    "fraction_of_peak": speed * flops["train"] / (peak * 1e9)})
        if preset == "cpu":
            print(f"sampling {samples} images ...", flush=True)
            for name, s in sampling_speed(network, samples, 5 if quick else args.ddpm_steps, repeats).items():
                speed = samples / s["seconds"]
                results["rows"].append({"work": f"sampling {name}", "preset": preset, "features": features,
                                        "batch": samples, "xla": True, "images_per_s": speed, "seconds": s["seconds"],
                                        "fraction_of_peak": speed * s["steps"] * flops["forward"] / (peak * 1e9),
                                        "measured_steps": s.get("measured_steps")})
        results.setdefault("flops", {})[preset] = flops
    return results


def format_table(r) -> str:
    lines = [f"Sprite UNet, oneDNN {r['onednn']}; FLOPs per image: "
             + "; ".join(f"F={SIZES[p][0]}: forward {f['forward'] / 1e6:.0f} M, training step {f['train'] / 1e6:.0f} M"
                         for p, f in r["flops"].items()), "",
             "| 3x3 conv (batch x H x W x C) | GFLOP/s |", "| --- | --- |"]
    lines += [f"| {shape} | {g:.1f} |" for shape, g in r["conv_gflops"].items()]
    lines += [f"| **conv peak** | **{r['peak_gflops']:.1f}** |", "",
              "| work | preset (F, batch) | XLA | images/s | fraction of conv peak |", "| --- | --- | --- | --- | --- |"]
    for row in r["rows"]:
        note = f" ({row['measured_steps']} steps timed, scaled)" if row.get("measured_steps") else ""
        lines.append(f"| {row['work']}{note} | {row['preset']} ({row['features']}, {row['batch']}) | "
                     f"{'yes' if row['xla'] else 'no'} | {row['images_per_s']:,.1f} | {row['fraction_of_peak']:.0%} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.sprites", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke test of the benchmark")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (default: %(default)s)")
    p.add_argument("--train-steps", type=int, default=30, help="training steps per timed epoch (default: %(default)s)")
    p.add_argument("--ddpm-steps", type=int, default=50, help="DDPM steps timed, scaled to T (default: %(default)s)")
    p.add_argument("--json", default="outputs/benchmarks/sprites.json", help="where to write the JSON (default: %(default)s)")
    args = p.parse_args(argv)
    results = run(args)
    write_results(results, format_table(results), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
