"""Process-wide TensorFlow settings, applied before TensorFlow is first imported.

oneDNN's graph rewrites are switched off by default (``setdefault``: export
``TF_ENABLE_ONEDNN_OPTS=1`` to override). Measured on the project's 2-core CPU (see
benchmarks/): with them on, the compiled samplers and ``model.fit`` at batch 64 were slower, and
the grappler remapper logged a spurious "empty op name" error for the conditional blocks.

XLA's CPU backend is asked to hand dots, elementwise ops and reductions to the YNNPACK library
(``--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce``, appended to ``XLA_FLAGS``
unless that flag is already there: set it yourself to choose other types, or
``--xla_cpu_experimental_ynn_fusion_type=`` for none). Measured on the 2-core CPU with interleaved
A/B runs of the XLA-compiled fused training loop of the assignment network (with `keras_ddpm.process.rng`):
batch 64 from 282k-291k to 351k-361k examples/s, batch 4096 from 693k-711k to 834k-869k; DDPM
sampling unchanged (13.0 s for 50,000 points x 1000 steps); training losses equal to 5 digits
and the same seed still gives the same weights. XLA only: graphs run without XLA are untouched.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
if YNN_FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" {YNN_FLAG}=dot,eltwise,reduce").strip()
