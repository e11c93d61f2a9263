"""``keras-ddpm``, the console script: one command in front of every entry point of the project.

    keras-ddpm train bicycle [FLAGS]     train_bicycle.py: the 2D bicycle DDPM, its figures and REPORT.md
    keras-ddpm train sprites [FLAGS]     train_sprites.py: the sprite UNet
    keras-ddpm train gmm [FLAGS]         train_score_gmm.py: score matching on a Gaussian mixture
    keras-ddpm sample SAVEDMODEL ...     sample.py: samples from an exported SavedModel
    keras-ddpm export MODEL.keras ...    python -m keras_ddpm.export
    keras-ddpm evaluate MODEL.keras ...  python -m keras_ddpm.apps.sprites.evaluation (FID/KID)
    keras-ddpm study OUT ...             python -m keras_ddpm.apps.bicycle.study
    keras-ddpm report OUT ...            python -m keras_ddpm.apps.bicycle.report
    keras-ddpm benchmark ...             python -m benchmarks.speed (in a checkout of the repository)

Everything after the command goes to that entry point's own parser (``keras-ddpm train bicycle
--help`` lists train_bicycle.py's flags). The console script itself is `keras_ddpm_env.main`, which
applies the CPU tuning (`keras_ddpm_env.tune_cpu`) before TensorFlow is imported, as the scripts do.
The scripts' parsers live in this package (``train_bicycle``, ``train_sprites``, ``train_score_gmm``,
``sample``), so an installed wheel has them all; the files at the top of the repository are thin
wrappers around them.
"""

from __future__ import annotations

import importlib
import os
import sys

#: The folder above the package: the repository's root in a checkout (where the scripts and the
#: default data folders are), site-packages in an installed wheel.
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: command -> (module whose ``main(argv)`` runs it, what it does). The modules of this package also
#: take ``prog`` (the name in their usage and error lines).
COMMANDS = {
    "train bicycle": ("keras_ddpm.cli.train_bicycle", "train the bicycle DDPM, write its figures and REPORT.md"),
    "train sprites": ("keras_ddpm.cli.train_sprites", "train the sprite UNet DDPM, sample and evaluate it"),
    "train gmm": ("keras_ddpm.cli.train_score_gmm", "score matching and Langevin dynamics on a Gaussian mixture"),
    "sample": ("keras_ddpm.cli.sample", "draw samples from an exported SavedModel"),
    "export": ("keras_ddpm.export", "export a .keras DiffusionModel as a sampler SavedModel"),
    "evaluate": ("keras_ddpm.apps.sprites.evaluation", "FID/KID and timing of a sprite checkpoint"),
    "study": ("keras_ddpm.apps.bicycle.study", "loss and sample metrics of every checkpoint of a bicycle run"),
    "report": ("keras_ddpm.apps.bicycle.report", "write REPORT.md of a bicycle run"),
    "benchmark": ("benchmarks.speed", "speed of training and sampling (in a checkout of the repository)"),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: keras-ddpm COMMAND [ARGS...]   (keras-ddpm COMMAND --help: the command's flags)", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def _entry(module_name: str, prog: str):
    """The ``main(argv)`` of ``module_name``; the benchmarks are found in the checkout above the package."""
    if module_name.startswith("benchmarks.") and os.path.isdir(os.path.join(CHECKOUT, "benchmarks")):
        if CHECKOUT not in sys.path:
            sys.path.append(CHECKOUT)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            raise FileNotFoundError(f"{module_name} is not installed: the benchmarks are part of the "
                                    "repository, run them from a checkout (pip install -e .)") from None
        raise
    if module_name.startswith("keras_ddpm.cli."):
        return lambda argv: module.main(argv, prog=prog)
    return module.main


def main(argv=None) -> int:
    """Run ``keras-ddpm COMMAND ARGS...``; bad input is one line on stderr and exit code 2."""
    from keras_ddpm.utils.cli import EXIT_BAD_INPUT, run_cli

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else EXIT_BAD_INPUT
    words = argv[:2] if argv[0] == "train" else argv[:1]
    name = " ".join(words)
    if name not in COMMANDS:
        message = ("keras-ddpm train: choose bicycle, sprites or gmm" if argv[0] == "train"
                   else f"keras-ddpm: unknown command {argv[0]!r}")
        print(f"{message} (keras-ddpm --help lists the commands)", file=sys.stderr)
        return EXIT_BAD_INPUT
    prog = f"keras-ddpm {name}"
    return run_cli(lambda rest: _entry(COMMANDS[name][0], prog)(rest), argv[len(words):], prog=prog)
