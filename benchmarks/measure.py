"""Timing and FLOP counting shared by the benchmarks."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from keras_ddpm.utils.timing import median_seconds  # noqa: F401 (re-exported: the benchmarks time with it)


def graph_flops(fn, *specs) -> float:
    """Float operations of the graph of ``fn`` traced for ``specs`` (TensorFlow's profiler)."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    graph = tf.function(fn).get_concrete_function(*specs).graph
    options = (option_builder.ProfileOptionBuilder(option_builder.ProfileOptionBuilder.float_operation())
               .with_empty_output().build())
    return float(model_analyzer.profile(graph=graph, options=options).total_float_ops)


def write_results(results: dict, table: str, json_path) -> None:
    """Print ``table``, then write ``results`` to ``json_path`` and the table beside it (``.md``), atomically."""
    from keras_ddpm.utils.io import write_text

    print()
    print(table)
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    write_text(json_path, json.dumps(results, indent=2))
    write_text(os.path.splitext(json_path)[0] + ".md", table + "\n")
    print(f"\nwrote {json_path}")
