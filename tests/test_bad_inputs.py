"""The sweep of bad input: every entry point, every row one line on stderr and exit code 2, fast.

Each row of `ROWS` is one bad command: the entry point, its arguments, a word the one-line error
must contain, and the most seconds it may take (checks that guard training must answer before any
training, so in well under a second). The rows run in ONE child process (this file run as a script,
``python tests/test_bad_inputs.py ROWS_JSON RESULT_JSON``) that imports every entry point once and
calls each ``main(argv)`` through `keras_ddpm.utils.cli.run_cli`, as the scripts do; a few rows
also run as real subprocesses through the top-level scripts, to prove the wrappers.

Placeholders in the arguments: ``{d}`` the fixture folder; ``{bike}`` a small valid bicycle file;
``{file}`` a regular file; ``{dir}`` an empty folder; ``{model}`` a bicycle ``.keras`` model (T = 10);
``{model_res}`` one of the improved preset's network (ResidualMLP); ``{trunc}`` the first truncated; ``{sm}`` its sampler SavedModel; ``{sprites}`` a tiny valid
sprite folder; ``{empty_sprites}`` a sprite folder whose images file is 0 bytes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # run as a script (the child), find the package in the checkout

from keras_ddpm.cli import COMMANDS  # noqa: E402

#: entry point -> module whose ``main(argv)`` runs it: the commands of ``keras-ddpm`` (the same modules as the
#: scripts and ``python -m``), and ``keras-ddpm`` itself (`keras_ddpm.cli.main`, which runs run_cli itself).
ENTRIES = {**{name: module for name, (module, _) in COMMANDS.items() if name != "benchmark"},
           "keras-ddpm": "keras_ddpm.cli"}

#: the smallest bicycle run: a bad flag added to it must be refused before training starts
BIKE = ["--data", "{bike}", "--epochs", "1", "--timesteps", "50", "--save-model", "none", "--no-tensorboard",
        "--out", "{d}/bike_out", "--verbose", "0"]
SPRITES = ["--data", "{sprites}", "--epochs", "1", "--timesteps", "100", "--ddim-steps", "5", "--batch-size", "4", "--save-model", "none",
           "--no-tensorboard", "--tfds-dir", "{d}/tfds", "--out", "{d}/sprites_out", "--verbose", "0"]
GMM = ["--out", "{d}/gmm_out"]
FAST = 1.0  # seconds: a check made before any training or sampling

# (name, entry, argv, word the message must contain, most seconds)
ROWS = [
    # train_bicycle.py: output paths
    ("bicycle --out is a file", "train bicycle", BIKE + ["--out", "{file}"], "--out", FAST),
    ("bicycle --out under a file", "train bicycle", BIKE + ["--out", "{file}/run"], "--out", FAST),
    ("bicycle --save-model is a folder", "train bicycle", BIKE + ["--save-model", "{dir}"], "--save-model", FAST),
    ("bicycle --save-model folder.keras", "train bicycle", BIKE + ["--save-model", "{d}/folder.keras"],
     "--save-model", FAST),
    ("bicycle --save-model under a file", "train bicycle", BIKE + ["--save-model", "{file}/m.keras"],
     "{file}/m.keras", FAST),
    ("bicycle --save-model unwritable", "train bicycle", BIKE + ["--save-model", "/proc/keras_ddpm_m.keras"],
     "/proc/keras_ddpm_m.keras", FAST),
    ("bicycle --export is a file", "train bicycle", BIKE + ["--export", "{file}"], "--export", FAST),
    ("bicycle --export is --out", "train bicycle", BIKE + ["--export", "{d}/bike_out"], "--export", FAST),
    ("bicycle --save-model's SavedModel is --out", "train bicycle",
     BIKE[:-4] + ["--out", "{d}/bike_m", "--verbose", "0", "--save-model", "{d}/bike_m.keras"], "--save-model", FAST),
    # train_bicycle.py: flags
    ("bicycle --study-samples 5", "train bicycle", BIKE + ["--study-samples", "5"], "--study-samples", FAST),
    ("bicycle --num-samples 1", "train bicycle", BIKE + ["--num-samples", "1"], "--num-samples", FAST),
    ("bicycle --epochs 0", "train bicycle", BIKE + ["--epochs", "0"], "--epochs", FAST),
    ("bicycle --lr abc", "train bicycle", BIKE + ["--lr", "abc"], "--lr", FAST),
    ("bicycle --lr nan", "train bicycle", BIKE + ["--lr", "nan"], "--lr", FAST),
    ("bicycle --timesteps 1", "train bicycle", BIKE + ["--timesteps", "1"], "timesteps", FAST),
    ("bicycle --validation-fraction 0.7", "train bicycle", BIKE + ["--validation-fraction", "0.7"],
     "--validation-fraction", FAST),
    ("bicycle --batch-size over the data", "train bicycle", BIKE + ["--batch-size", "100000"], "batch size", FAST),
    ("bicycle --compare-with missing", "train bicycle", BIKE + ["--compare-with", "{d}/nope"], "summary", FAST),
    ("bicycle --preset unknown", "train bicycle", BIKE + ["--preset", "huge"], "--preset", FAST),
    # train_bicycle.py: data
    ("bicycle data missing", "train bicycle", BIKE + ["--data", "{d}/nope.txt"], "nope.txt", FAST),
    ("bicycle data 1e39 (inf in float32)", "train bicycle", BIKE + ["--data", "{d}/overflow.txt"], "line 3", FAST),
    ("bicycle data 1e30", "train bicycle", BIKE + ["--data", "{d}/huge.txt"], "line 2", FAST),
    ("bicycle data nan", "train bicycle", BIKE + ["--data", "{d}/nan.txt"], "line 4", FAST),
    ("bicycle data with 3 columns", "train bicycle", BIKE + ["--data", "{d}/three.txt"], "line 1", FAST),
    # train_sprites.py
    ("sprites --out is a file", "train sprites", SPRITES + ["--out", "{file}"], "--out", FAST),
    ("sprites --save-model is a folder", "train sprites", SPRITES + ["--save-model", "{dir}"], "--save-model", FAST),
    ("sprites --eval-ddim-steps abc", "train sprites", SPRITES + ["--evaluate", "--eval-ddim-steps", "abc"],
     "--eval-ddim-steps", FAST),
    ("sprites --eval-ddim-steps abc without --evaluate", "train sprites", SPRITES + ["--eval-ddim-steps", "abc"],
     "--eval-ddim-steps", FAST),
    ("sprites --inception-weights missing", "train sprites",
     SPRITES + ["--evaluate", "--inception-weights", "{d}/none.h5"], "--inception-weights", FAST),
    ("sprites --inception-weights missing without --evaluate", "train sprites",
     SPRITES + ["--inception-weights", "{d}/none.h5"], "--inception-weights", FAST),
    ("sprites --guidance-scale nan", "train sprites", SPRITES + ["--guidance-scale", "nan"], "--guidance-scale", FAST),
    ("sprites --class-dropout 1.5", "train sprites", SPRITES + ["--class-dropout", "1.5"], "--class-dropout", FAST),
    ("sprites --ddim-steps over T", "train sprites", SPRITES + ["--ddim-steps", "101"], "--ddim-steps", FAST),
    ("sprites --min-snr-gamma 0", "train sprites", SPRITES + ["--min-snr-gamma", "0"], "--min-snr-gamma", FAST),
    ("sprites --prediction x0", "train sprites", SPRITES + ["--prediction", "x0"], "--prediction", FAST),
    ("sprites 0-byte .npy", "train sprites", SPRITES + ["--data", "{empty_sprites}"], "0 bytes", FAST),
    ("sprites data folder missing", "train sprites", SPRITES + ["--data", "{d}/nope"], "not found", FAST),
    # train_score_gmm.py
    ("gmm --out is a file", "train gmm", GMM + ["--out", "{file}"], "--out", FAST),
    ("gmm --out under a file", "train gmm", GMM + ["--out", "{file}/run"], "--out", FAST),
    ("gmm --sigma-min over --sigma-max", "train gmm", GMM + ["--sigma-min", "5", "--sigma-max", "1"],
     "--sigma-min", FAST),
    ("gmm --lr -1", "train gmm", GMM + ["--lr", "-1"], "--lr", FAST),
    # sample.py
    ("sample --n 4294967396", "sample", ["{sm}", "--n", "4294967396", "--out", "{d}/s.npy"], "--num-samples", FAST),
    ("sample --n 3000000000", "sample", ["{sm}", "--n", "3000000000", "--out", "{d}/s.npy"], "--num-samples", FAST),
    ("sample --n beyond memory", "sample", ["{sm}", "--n", "2000000000", "--out", "{d}/s.npy"], "memory", 3.0),
    ("sample --ddim-steps 4294967297", "sample", ["{sm}", "--ddim-steps", "4294967297", "--out", "{d}/s.npy"],
     "--ddim-steps", FAST),
    ("sample --ddim-steps over T", "sample", ["{sm}", "--ddim-steps", "11", "--out", "{d}/s.npy"],
     "--ddim-steps", 3.0),
    ("sample --out is a folder", "sample", ["{sm}", "--n", "4", "--out", "{d}/folder.npy"], "--out", FAST),
    ("sample --out under a file", "sample", ["{sm}", "--n", "4", "--out", "{file}/x.npy"], "--out", FAST),
    ("sample --picture under a file", "sample", ["{sm}", "--n", "4", "--out", "{d}/s.npy", "--picture",
                                                 "{file}/x.png"], "--picture", FAST),
    ("sample --from a text file", "sample", ["{sm}", "--from", "{bike}", "--t-start", "3", "--out", "{d}/s.npy"],
     "not a .npy", 3.0),
    ("sample --out not .npy", "sample", ["{sm}", "--out", "{d}/s.txt"], "--out", FAST),
    ("sample --eta without --ddim-steps", "sample", ["{sm}", "--eta", "0.5", "--out", "{d}/s.npy"], "--eta", FAST),
    ("sample no SavedModel", "sample", ["{d}/nope", "--out", "{d}/s.npy"], "no SavedModel", FAST),
    ("sample a .keras file", "sample", ["{model}", "--out", "{d}/s.npy"], "export", FAST),
    # python -m keras_ddpm.export
    ("export missing checkpoint", "export", ["{d}/nope.keras", "--out", "{d}/exp"], "not found", FAST),
    ("export truncated checkpoint", "export", ["{trunc}", "--out", "{d}/exp"], "truncated", FAST),
    ("export --out is a file", "export", ["{model}", "--out", "{file}"], "existing file", FAST),
    # python -m keras_ddpm.apps.sprites.evaluation
    ("evaluate truncated model", "evaluate", ["--model", "{trunc}", "--data-dir", "{sprites}"], "truncated", FAST),
    ("evaluate a bicycle model", "evaluate", ["--model", "{model}", "--data-dir", "{sprites}"], "bicycle", 3.0),
    ("evaluate a residual bicycle model", "evaluate", ["--model", "{model_res}", "--data-dir", "{sprites}"],
     "bicycle", 3.0),
    ("evaluate missing model", "evaluate", ["--model", "{d}/nope.keras", "--data-dir", "{sprites}"], "not found",
     FAST),
    ("evaluate --etas 2", "evaluate", ["--model", "{model}", "--data-dir", "{sprites}", "--etas", "2"], "etas", FAST),
    ("evaluate --inception-weights missing", "evaluate", ["--model", "{model}", "--data-dir", "{sprites}",
                                                          "--inception-weights", "{d}/none.h5"],
     "--inception-weights", FAST),
    # python -m keras_ddpm.apps.bicycle.study / report
    ("study missing run folder", "study", ["{d}/nope"], "not found", FAST),
    ("study --num-samples 0", "study", ["{dir}", "--num-samples", "0"], "--num-samples", FAST),
    ("report corrupt summary.json", "report", ["{d}/corrupt_run"], "summary.json", FAST),
    ("report missing summary", "report", ["{dir}"], "summary", FAST),
    # keras-ddpm
    ("keras-ddpm unknown command", "keras-ddpm", ["bogus"], "unknown command", FAST),
    ("keras-ddpm train unknown", "keras-ddpm", ["train", "cats"], "bicycle", FAST),
    ("keras-ddpm train bicycle --out is a file", "keras-ddpm", ["train", "bicycle"] + BIKE + ["--out", "{file}"],
     "--out", FAST),
    ("keras-ddpm sample --n 4294967396", "keras-ddpm", ["sample", "{sm}", "--n", "4294967396", "--out",
                                                          "{d}/s.npy"], "--num-samples", FAST),
    ("keras-ddpm evaluate bicycle model", "keras-ddpm", ["evaluate", "--model", "{model}", "--data-dir",
                                                          "{sprites}"], "bicycle", 3.0),
    ("keras-ddpm report corrupt summary.json", "keras-ddpm", ["report", "{d}/corrupt_run"], "summary.json", FAST),
]

#: Rows run as real subprocesses through the top-level scripts and the console script's module
#: (``keras-ddpm`` is `keras_ddpm_env.main`): (name, command, word).
SCRIPT_ROWS = [
    ("train_bicycle.py --out is a file", ["train_bicycle.py"] + BIKE + ["--out", "{file}"], "--out"),
    ("train_sprites.py --guidance-scale nan", ["train_sprites.py"] + SPRITES + ["--guidance-scale", "nan"],
     "--guidance-scale"),
    ("sample.py --n 3000000000", ["sample.py", "{d}/nope", "--n", "3000000000", "--out", "{d}/s.npy"],
     "--num-samples"),
    ("keras-ddpm report corrupt summary.json", ["keras_ddpm_env.py", "report", "{d}/corrupt_run"], "summary.json"),
]


ROW_TIMEOUT = 20  # seconds


class RowTimeout(BaseException):
    """A row ran past `ROW_TIMEOUT` (it trains or samples instead of refusing at once)."""


def fill(argv, fixtures):
    return [arg.format(**fixtures) for arg in argv]


def write_text_fixtures(folder) -> dict:
    """The fixtures that need no TensorFlow (files, folders, data); returns the placeholders."""
    import numpy as np

    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * np.pi, 300)
    ring = np.stack([np.cos(angle), np.sin(angle)], 1)
    bike = os.path.join(folder, "bike.txt")
    np.savetxt(bike, ring, fmt="%.6f")
    for name, line, bad in (("overflow.txt", 3, "1e39 0.5"), ("huge.txt", 2, "0.1 1e30"),
                            ("nan.txt", 4, "nan 0.2")):
        rows = [f"{x:.6f} {y:.6f}" for x, y in ring]
        rows[line - 1] = bad
        with open(os.path.join(folder, name), "w") as handle:
            handle.write("\n".join(rows) + "\n")
    with open(os.path.join(folder, "three.txt"), "w") as handle:
        handle.write("1 2 3\n")
    regular = os.path.join(folder, "afile.txt")
    with open(regular, "w") as handle:
        handle.write("a user's file\n")
    for name in ("empty_dir", "folder.keras", "folder.npy", "nope_parent"):
        os.makedirs(os.path.join(folder, name))
    os.rmdir(os.path.join(folder, "nope_parent"))
    sprites = os.path.join(folder, "sprites")
    os.makedirs(sprites)
    images = rng.integers(0, 256, size=(20, 8, 8, 3), dtype=np.uint8)
    np.save(os.path.join(sprites, "sprites_1788_16x16.npy"), images)
    np.save(os.path.join(sprites, "sprite_labels_nc_1788_16x16.npy"), np.eye(5)[np.arange(20) % 5])
    empty = os.path.join(folder, "empty_sprites")
    os.makedirs(empty)
    open(os.path.join(empty, "sprites_1788_16x16.npy"), "wb").close()
    shutil.copy(os.path.join(sprites, "sprite_labels_nc_1788_16x16.npy"), empty)
    corrupt = os.path.join(folder, "corrupt_run")
    os.makedirs(corrupt)
    with open(os.path.join(corrupt, "summary.json"), "w") as handle:
        handle.write('{"preset": "improved", "metr')
    return {"d": folder, "bike": bike, "file": regular, "dir": os.path.join(folder, "empty_dir"),
            "sprites": sprites, "empty_sprites": empty, "model": os.path.join(folder, "bike.keras"),
            "model_res": os.path.join(folder, "bike_residual.keras"),
            "trunc": os.path.join(folder, "trunc.keras"), "sm": os.path.join(folder, "bike_sm")}


def write_model_fixtures(fixtures) -> None:
    """A tiny bicycle model (T = 10), the same file truncated, and its sampler SavedModel."""
    import keras

    from keras_ddpm import DenoisingMLP, DiffusionModel, NoiseSchedule
    from keras_ddpm.export import export_sampler
    from keras_ddpm.networks.residual_mlp import ResidualMLP

    model = DiffusionModel(DenoisingMLP(hidden_units=(16, 16)), NoiseSchedule("linear", 10), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.build((None, 2))
    model.save(fixtures["model"])
    with open(fixtures["model"], "rb") as source, open(fixtures["trunc"], "wb") as target:
        target.write(source.read()[:300])
    export_sampler(model, fixtures["sm"])
    residual = DiffusionModel(ResidualMLP(width=16, num_blocks=1), NoiseSchedule("linear", 10), seed=0)
    residual.compile(optimizer=keras.optimizers.Adam(1e-3))
    residual.build((None, 2))
    residual.save(fixtures["model_res"])


def child(rows_path, result_path) -> None:
    """Run every row of ``rows_path`` in this process; write ``[{name, code, stderr, seconds}]``."""
    import importlib

    os.environ.pop("KERAS_DDPM_DEBUG", None)
    with open(rows_path) as handle:
        job = json.load(handle)
    fixtures = job["fixtures"]
    os.chdir(fixtures["d"])  # a default output path lands in the fixture folder, never in the checkout
    from keras_ddpm.utils.cli import run_cli

    mains = {}
    for entry, module_name in ENTRIES.items():
        module = importlib.import_module(module_name)
        prog = getattr(module, "PROG", f"python -m {module_name}")
        if entry == "keras-ddpm":
            mains[entry] = module.main
        elif module_name.startswith("keras_ddpm.cli."):
            mains[entry] = (lambda m, p: lambda argv: run_cli(lambda a: m.main(a, prog=p), argv, prog=p))(module, prog)
        else:
            mains[entry] = (lambda m, p: lambda argv: run_cli(m.main, argv, prog=p))(module, prog)
    # What the training and sampling paths import lazily, so that no row pays for it.
    for name in ("keras_ddpm.apps.bicycle.pipeline", "keras_ddpm.apps.bicycle.figures", "keras_ddpm.data",
                 "keras_ddpm.apps.sprites.pipeline", "keras_ddpm.apps.gmm.pipeline", "tensorflow_datasets",
                 "matplotlib.pyplot", "keras_ddpm.training.loop"):
        importlib.import_module(name)
    write_model_fixtures(fixtures)

    def timeout(*_):
        raise RowTimeout(f"still running after {ROW_TIMEOUT} s")

    signal.signal(signal.SIGALRM, timeout)
    results = []
    for name, entry, argv in job["rows"]:
        err, out = io.StringIO(), io.StringIO()
        start = time.perf_counter()
        signal.alarm(ROW_TIMEOUT)  # a row that trains after all is cut short, not waited for
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = mains[entry](argv)
            except SystemExit as exit_:  # argparse
                code = exit_.code
            except BaseException as exc:  # noqa: BLE001 - reported as the row's failure
                import traceback

                code = "exception"
                err.write(traceback.format_exc())
                del exc
        signal.alarm(0)
        results.append({"name": name, "code": code, "stderr": err.getvalue(),
                        "seconds": time.perf_counter() - start})
    with open(result_path, "w") as handle:
        json.dump(results, handle)


class BadInputSweepTest(unittest.TestCase):
    """Every row: exit code 2, one line on stderr naming the problem, no traceback, fast."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp()
        cls.fixtures = write_text_fixtures(cls.tmp)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
        env.pop("KERAS_DDPM_DEBUG", None)
        rows_path = os.path.join(cls.tmp, "rows.json")
        cls.result_path = os.path.join(cls.tmp, "results.json")
        with open(rows_path, "w") as handle:
            json.dump({"fixtures": cls.fixtures,
                       "rows": [(name, entry, fill(argv, cls.fixtures)) for name, entry, argv, _, _ in ROWS]},
                      handle)
        cls.child = subprocess.Popen([sys.executable, os.path.abspath(__file__), rows_path, cls.result_path],
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The top-level scripts at the same time, on fixtures that need no model.
        cls.scripts = [subprocess.Popen([sys.executable] + fill(argv, cls.fixtures), cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                       for _, argv, _ in SCRIPT_ROWS]
        cls.child_output = cls.child.communicate(timeout=600)
        cls.script_results = [p.communicate(timeout=600) + (p.returncode,) for p in cls.scripts]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def assert_one_line(self, name, code, stderr, word):
        lines = stderr.strip().splitlines()
        self.assertNotIn("Traceback", stderr, f"{name}: {stderr}")
        self.assertEqual(code, 2, f"{name}: exit code {code}, stderr {stderr!r}")
        self.assertEqual(len(lines), 1, f"{name}: stderr is not one line: {stderr!r}")
        self.assertIn(word.format(**self.fixtures), lines[0], f"{name}: {lines[0]!r}")

    def test_every_row(self):
        self.assertEqual(self.child.returncode, 0, self.child_output[1][-3000:])
        with open(self.result_path) as handle:
            results = json.load(handle)
        self.assertEqual(len(results), len(ROWS))
        for (name, _, _, word, seconds), result in zip(ROWS, results):
            if name == "sample --n beyond memory" and _physical_memory() > 60 * 2**30:
                continue  # 2e9 points fit in this machine's memory: no bad input here
            with self.subTest(row=name):
                self.assert_one_line(name, result["code"], result["stderr"], word)
                self.assertLess(result["seconds"], seconds, f"{name}: took {result['seconds']:.2f} s")

    def test_top_level_scripts(self):
        for (name, _, word), (_, stderr, code) in zip(SCRIPT_ROWS, self.script_results):
            with self.subTest(row=name):
                stderr = "\n".join(line for line in stderr.splitlines() if not _tensorflow_log(line))
                self.assert_one_line(name, code, stderr, word)

    def test_nothing_of_the_users_was_touched(self):
        with open(self.fixtures["file"]) as handle:
            self.assertEqual(handle.read(), "a user's file\n")
        self.assertEqual(os.listdir(self.fixtures["dir"]), [])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "bike_out", "loss.csv")), "no row trained")


class AtomicWriteErrorsTest(unittest.TestCase):
    """A write that fails names the user's path, never the temporary file it was going through."""

    def test_errors_name_the_target(self):
        from keras_ddpm.utils import io as atomic
        from keras_ddpm.utils.cli import run_cli

        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        regular = os.path.join(tmp, "afile")
        open(regular, "w").close()
        os.makedirs(os.path.join(tmp, "folder.npy"))
        for target, error in ((os.path.join(regular, "x.npy"), NotADirectoryError),
                              (os.path.join(tmp, "folder.npy"), IsADirectoryError)):
            with self.assertRaises(error) as caught:
                atomic.save_npy(target, [1.0])
            self.assertIn(f"cannot write {target}", str(caught.exception))
            self.assertNotIn(".tmp", str(caught.exception))
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr):
                self.assertEqual(run_cli(lambda argv: atomic.save_npy(target, [1.0]), [], prog="p"), 2)
            self.assertEqual(stderr.getvalue().count("\n"), 1)
        self.assertEqual(sorted(os.listdir(tmp)), ["afile", "folder.npy"], "no temporary file is left")


def _physical_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _tensorflow_log(line: str) -> bool:
    """A line TensorFlow's C++ runtime logs before Python runs (not the script's message)."""
    return line.startswith(("I0000", "W0000", "E0000")) or "oneDNN custom operations" in line


if __name__ == "__main__":
    child(*sys.argv[1:3])
