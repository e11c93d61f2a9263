"""Device check: what TensorFlow sees, and how fast both models train and sample on it.

    python -m benchmarks.device_check                                  # ~60 s per measurement
    python -m benchmarks.device_check --seconds 10 --mixed-precision mixed_float16 --out gpu.json

Run it first on a new machine (after ``pip install ".[gpu]"`` on an NVIDIA GPU machine): it prints
TensorFlow's and Keras' versions, the CUDA and cuDNN versions TensorFlow was built with, and every
physical and logical device with its details (GPU name, compute capability), then measures

- the **bicycle** network of the ``improved`` preset (`keras_ddpm.apps.bicycle.presets`:
  ResidualMLP, its batch size, T = 1000, its schedule) on the shared ``bicycle.txt``: training
  examples/s of ``model.fit`` (100 steps per compiled call, XLA), and samples/s of DDPM
  (Algorithm 2, T steps) and DDIM (50 steps) on ``--bicycle-samples`` points;
- the **sprite UNet** of the ``cpu`` preset (`keras_ddpm.apps.sprites.presets`: 32 base features,
  batch 32, T = 500, class-conditional with label dropout 0.1) on the shared sprites: training
  images/s (10 steps per compiled call, as ``train_sprites.py``), and samples/s of conditional DDPM
  and DDIM (50 steps) on ``--sprite-samples`` images,

each for about ``--seconds`` after a warm-up call that compiles it. A sampler is timed over as
many of its steps as fit in ``--seconds`` (at least one) and scaled to its full length: every step
costs the same. The numbers go to ``--out`` as JSON. ``--mixed-precision`` puts that dtype policy
on both networks (`keras_ddpm.layers.apply_precision`); ``--no-jit`` turns XLA off everywhere.

It runs on a CPU-only machine as well (that is how ``tests/test_device_check.py`` runs it, with
``--seconds 1``): then it measures the CPU and says that no GPU is visible. TensorFlow's own
settings are left at their defaults (no ``keras_ddpm_env.tune_cpu``), as on a GPU machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BICYCLE = ("data/bicycle.txt", "../shared/data/bicycle.txt")
SPRITES = ("data/sprites", "../shared/data/sprites")


def find(path, defaults):
    """``path`` if given, else the first of ``defaults`` that exists (relative to the current folder
    or the checkout)."""
    if path:
        return path
    for candidate in defaults:
        for base in (os.getcwd(), ROOT):
            full = os.path.join(base, candidate)
            if os.path.exists(full):
                return full
    raise SystemExit(f"device_check: none of {', '.join(defaults)} exists; pass the path")


def devices() -> dict:
    """TensorFlow's and Keras' versions, the CUDA/cuDNN build, and every device TensorFlow sees."""
    import keras
    import tensorflow as tf

    build = tf.sysconfig.get_build_info()
    found = []
    for device in tf.config.list_physical_devices():
        entry = {"name": device.name, "type": device.device_type}
        if device.device_type == "GPU":
            try:
                entry.update({k: (list(v) if isinstance(v, tuple) else v)
                              for k, v in tf.config.experimental.get_device_details(device).items()})
            except (ValueError, RuntimeError):
                pass
        found.append(entry)
    return {
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "built_with_cuda": bool(tf.test.is_built_with_cuda()),
        "cuda_version": build.get("cuda_version"), "cudnn_version": build.get("cudnn_version"),
        "physical_devices": found,
        "logical_devices": [d.name for d in tf.config.list_logical_devices()],
        "gpus": sum(d["type"] == "GPU" for d in found),
        "cpu_count": os.cpu_count(),
    }


def train_rate(model, dataset, batch: int, steps_per_call: int, seconds: float) -> dict:
    """Examples/s of ``model.fit`` in calls of ``steps_per_call`` steps, for about ``seconds`` after
    one warm-up call (which compiles the step)."""
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps_per_call, verbose=0)
    warmup = time.perf_counter() - start
    steps, start = 0, time.perf_counter()
    while True:
        model.fit(dataset, epochs=1, steps_per_epoch=steps_per_call, verbose=0)
        steps += steps_per_call
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return {"examples_per_s": steps * batch / elapsed, "steps": steps, "batch": batch, "seconds": elapsed,
            "warmup_s": warmup}


def sample_rate(sampler, network, x, seconds: float, labels=None) -> dict:
    """Samples/s of ``sampler`` on the batch ``x``: one step to compile, one to time, then as many of
    its steps as fit in ``seconds`` (at least one), scaled to all of its steps."""
    n = len(sampler.timestep_sequence)
    start = time.perf_counter()
    sampler.run(network, x, seed=0, start=n - 1, labels=labels)  # compiles the loop
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    sampler.run(network, x, seed=0, start=n - 1, labels=labels)
    one = time.perf_counter() - start
    steps = int(min(n, max(1, seconds // max(one, 1e-6))))
    start = time.perf_counter()
    sampler.run(network, x, seed=0, start=n - steps, labels=labels)
    per_step = (time.perf_counter() - start) / steps
    full = per_step * n
    return {"samples_per_s": len(x) / full, "samples": len(x), "steps": n, "timed_steps": steps,
            "seconds_per_sample_run": full, "warmup_s": warmup}


def bicycle(args) -> dict:
    import keras

    from keras_ddpm import DDIMSampler, DDPMSampler, DiffusionModel, NoiseSchedule
    from keras_ddpm.apps.bicycle.presets import get_preset
    from keras_ddpm.data import load_points, make_dataset
    from keras_ddpm.layers import apply_precision

    preset = get_preset("improved")
    points = load_points(find(args.bicycle, BICYCLE))
    schedule = NoiseSchedule(preset.schedule, 1000)
    keras.utils.set_random_seed(0)
    network = apply_precision(preset.build_network(points.shape[1], seed=0), args.mixed_precision)
    model = DiffusionModel(network, schedule, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(preset.learning_rate), steps_per_execution=100,
                  jit_compile=not args.no_jit)
    model.build((None, points.shape[1]))
    dataset = make_dataset(points, preset.batch_size, seed=0).repeat()
    result = {"network": type(network).__name__, "parameters": int(network.count_params()),
              "train": train_rate(model, dataset, preset.batch_size, 100, args.seconds)}
    x = np.random.default_rng(0).standard_normal((args.bicycle_samples, points.shape[1])).astype(np.float32)
    for name, sampler in (("ddpm", DDPMSampler(schedule, jit_compile=not args.no_jit)),
                          ("ddim", DDIMSampler(schedule, num_steps=50, jit_compile=not args.no_jit))):
        result[name] = sample_rate(sampler, network, x, args.seconds)
    return result


def sprites(args) -> dict:
    import keras
    import tensorflow as tf

    from keras_ddpm import DDIMSampler, DDPMSampler, DiffusionModel, NoiseSchedule
    from keras_ddpm.apps.sprites.data import load_sprite_arrays, to_model_range
    from keras_ddpm.apps.sprites.presets import get_preset
    from keras_ddpm.layers import apply_precision
    from keras_ddpm.networks.unet import UNet

    preset = get_preset("cpu")
    images, ids, num_classes = load_sprite_arrays(find(args.sprites, SPRITES))
    images, ids = to_model_range(images).astype(np.float32), np.asarray(ids, np.int32)
    schedule = NoiseSchedule(preset.schedule, 500)
    keras.utils.set_random_seed(0)
    network = apply_precision(UNet(channels=images.shape[-1], base_features=preset.base_features,
                                   num_classes=num_classes), args.mixed_precision)
    model = DiffusionModel(network, schedule, seed=0, class_dropout=0.1)
    model.compile(optimizer=keras.optimizers.Adam(preset.lr), steps_per_execution=10, jit_compile=False)
    model.build((None,) + images.shape[1:])
    dataset = (tf.data.Dataset.from_tensor_slices((images, ids)).shuffle(len(images), seed=0)
               .batch(preset.batch_size, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE))
    result = {"network": "UNet", "parameters": int(network.count_params()), "num_classes": num_classes,
              "train": train_rate(model, dataset, preset.batch_size, 10, args.seconds)}
    x = np.random.default_rng(0).standard_normal((args.sprite_samples,) + images.shape[1:]).astype(np.float32)
    y = np.arange(args.sprite_samples) % num_classes
    clip = (-1.0, 1.0)
    for name, sampler in (("ddpm", DDPMSampler(schedule, clip_x0=clip, jit_compile=not args.no_jit)),
                          ("ddim", DDIMSampler(schedule, num_steps=50, clip_x0=clip, jit_compile=not args.no_jit))):
        result[name] = sample_rate(sampler, network, x, args.seconds, labels=y)
    return result


def report(name: str, result: dict, unit: str) -> None:
    train = result["train"]
    print(f"{name}: train {train['examples_per_s']:,.0f} {unit}/s (batch {train['batch']}, {train['steps']} steps "
          f"in {train['seconds']:.1f} s; compile {train['warmup_s']:.1f} s)")
    for sampler in ("ddpm", "ddim"):
        r = result[sampler]
        print(f"{name}: {sampler.upper()}-{r['steps']} {r['samples_per_s']:,.1f} samples/s ({r['samples']} "
              f"{unit} in {r['seconds_per_sample_run']:.2f} s, timed over {r['timed_steps']} steps)")


def main(argv=None) -> int:
    from keras_ddpm.layers import PRECISIONS

    p = argparse.ArgumentParser(prog="python -m benchmarks.device_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0,
                   help="seconds of each measurement (training, DDPM, DDIM; both models) (default: %(default)s)")
    p.add_argument("--mixed-precision", choices=PRECISIONS, default="none",
                   help="dtype policy of both networks (default: %(default)s)")
    p.add_argument("--no-jit", action="store_true", help="no XLA (training and samplers)")
    p.add_argument("--bicycle", help="bicycle.txt (default: data/bicycle.txt or ../shared/data/bicycle.txt)")
    p.add_argument("--sprites", help="sprite folder (default: data/sprites or ../shared/data/sprites)")
    p.add_argument("--bicycle-samples", type=int, default=20000, help="points per sampling run (default: %(default)s)")
    p.add_argument("--sprite-samples", type=int, default=648, help="images per sampling run (default: %(default)s)")
    p.add_argument("--out", default="outputs/device_check.json", help="JSON of the numbers (default: %(default)s)")
    args = p.parse_args(argv)
    if not args.seconds > 0 or args.bicycle_samples < 1 or args.sprite_samples < 1:
        p.error("--seconds, --bicycle-samples and --sprite-samples must be positive")

    import json

    from keras_ddpm.utils.io import write_text

    info = devices()
    print(f"TensorFlow {info['tensorflow']}, Keras {info['keras']}; built with CUDA: {info['built_with_cuda']}"
          + (f" (CUDA {info['cuda_version']}, cuDNN {info['cudnn_version']})" if info["built_with_cuda"] else ""))
    for device in info["physical_devices"]:
        extra = {k: v for k, v in device.items() if k not in ("name", "type")}
        print(f"  {device['name']}" + (f" {extra}" if extra else ""))
    if not info["gpus"]:
        print("no GPU visible to TensorFlow: measuring the CPU (on an NVIDIA machine: pip install \".[gpu]\")")
    print(f"mixed precision: {args.mixed_precision}; XLA: {'off' if args.no_jit else 'on'}; "
          f"~{args.seconds:g} s per measurement", flush=True)
    results = {"devices": info, "settings": {"seconds": args.seconds, "mixed_precision": args.mixed_precision,
                                             "jit": not args.no_jit}}
    start = time.perf_counter()
    results["bicycle"] = bicycle(args)
    report("bicycle (improved preset)", results["bicycle"], "points")
    results["sprites"] = sprites(args)
    report("sprites (cpu preset UNet)", results["sprites"], "images")
    results["total_s"] = time.perf_counter() - start
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_text(args.out, json.dumps(results, indent=2))
    print(f"wrote {args.out} ({results['total_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
