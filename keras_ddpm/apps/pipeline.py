"""The parts of a training run that every application shares: its output paths, checked before
training, and what it leaves behind after training (the final ``.keras`` model, its copy at
``--save-model`` and the sampler SavedModel at ``--export``).

The run itself (one run per output folder, resume only with the same settings, ``fit`` with the
standard callbacks) is `keras_ddpm.training.run_folder` and `keras_ddpm.training.loop.train`.
"""

from __future__ import annotations

import copy
import os
import shutil

from keras_ddpm.export import check_export_target, export_sampler
from keras_ddpm.utils import io
from keras_ddpm.utils.cli import save_model_path

FINAL_MODEL = "model.keras"


def export_path(save_model: str, export: str | None):
    """Where the SavedModel goes: ``--export``, else next to ``--save-model`` (without ``.keras``),
    else nowhere (None)."""
    if export is not None:
        return None if export.lower() == "none" else export
    if save_model.lower() == "none":
        return None
    return os.path.splitext(save_model)[0]


def check_outputs(save_model: str, export: str | None, out: str | None = None):
    """The ``(.keras path or None, SavedModel folder or None)`` that the flags ``--save-model`` and
    ``--export`` name, checked before training, so a bad path costs no training time and neither
    output can replace the other, the run folder ``out`` or a user's files."""
    path = save_model_path(save_model)
    export_dir = export_path(save_model, export)
    if export_dir is not None:
        # The flag whose value the folder is, named in the errors.
        flag = "--export" if export is not None else "--save-model (the SavedModel goes next to it; see --export)"
        if out is not None and _inside(out, export_dir):
            raise ValueError(f"{flag}: the SavedModel folder {export_dir} would hold the run folder --out {out}; "
                             "export elsewhere")
        try:
            check_export_target(export_dir)
        except ValueError as err:
            raise ValueError(f"{flag}: {err}") from None
        if path is not None and _inside(path, export_dir):
            raise ValueError(f"--save-model {path} lies inside the --export folder {export_dir}, which "
                             "holds only the SavedModel: put the .keras file elsewhere")
    return path, export_dir


def _inside(path, folder) -> bool:
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return os.path.commonpath([path, folder]) == folder


def save_outputs(model, out, save_model, export_dir, quiet: bool = False, **export_kwargs) -> str:
    """Save the trained ``model`` as ``OUT/model.keras`` (atomically), copy it to ``save_model``
    (a path, or None) and export its samplers to ``export_dir`` (a folder, or None) with
    `export_sampler` (``export_kwargs``: ``variance``, ``clip_x0``). Returns the final model's path.
    ``quiet``: say nothing (a non-chief worker, whose export goes to a folder it deletes)."""
    final = io.save_model(model, os.path.join(out, FINAL_MODEL))
    if save_model is not None:
        io.copy_file(final, save_model)
    if export_dir is not None:
        export_sampler(model, export_dir, **export_kwargs)
        if not quiet:
            print(f"exported the samplers (SavedModel) to {export_dir}; sample with: "
                  f"python sample.py {export_dir} --num-samples 64 --seed 0 --out samples.npy")
    return final


def worker_run(args, strategy, export_dir, train) -> int:
    """Run ``train(args, save_model, export_dir)`` as a non-chief worker of a multi-worker run.

    TensorFlow's multi-worker Keras tutorial: every worker trains and saves (saving can need
    collective ops, which hang unless all workers take part), and the non-chief workers write into
    temporary locations that they delete. Here that is the worker's own folder
    (`keras_ddpm.training.distribute.worker_dir`, inside ``--out``): its ``--out``, model and
    SavedModel go there, it neither takes the run lock of ``--out`` nor writes the report, and it
    deletes the folder when ``train`` returns 0. A failed or killed run leaves it, with the
    worker's resume backup, for the rerun.
    """
    from keras_ddpm.training.distribute import worker_dir

    scratch = worker_dir(args.out, strategy)
    os.makedirs(scratch, exist_ok=True)
    worker_args = copy.copy(args)
    worker_args.out = scratch
    # The model is saved as scratch/model.keras all the same; the copy to --save-model is a file copy.
    code = train(worker_args, None, None if export_dir is None else os.path.join(scratch, "export"))
    if code == 0:
        shutil.rmtree(scratch, ignore_errors=True)
    return code
