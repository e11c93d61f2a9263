"""Process-wide TensorFlow settings, applied before TensorFlow is first imported.

oneDNN's graph rewrites are switched off by default (``setdefault``: export
``TF_ENABLE_ONEDNN_OPTS=1`` to override): on the 2-core CPU this project is developed on they
slowed the compiled samplers and small-batch ``model.fit``, and the grappler remapper logs a
spurious "empty op name" error for the conditional blocks.

XLA's CPU backend is asked to hand dots, elementwise ops and reductions to the YNNPACK library
(``--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce``, appended to ``XLA_FLAGS``
unless that flag is already there: set it yourself to choose other types, or
``--xla_cpu_experimental_ynn_fusion_type=`` for none). It speeds up the XLA-compiled training
step; the same seed still gives the same weights. XLA only: graphs run without XLA are untouched.

The measurements behind both defaults: docs/design-notes.md#onednn-and-xla-flags.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
if YNN_FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" {YNN_FLAG}=dot,eltwise,reduce").strip()
