"""Process-wide TensorFlow settings, applied before TensorFlow is first imported.

oneDNN's graph rewrites are switched off by default (``setdefault``: export
``TF_ENABLE_ONEDNN_OPTS=1`` to override). Measured on the project's 2-core CPU (see
benchmarks/): with them on, the compiled samplers and ``model.fit`` at batch 64 were slower, and
the grappler remapper logged a spurious "empty op name" error for the conditional blocks.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
