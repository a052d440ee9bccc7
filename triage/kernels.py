"""The compiled inner loops of inference, when there are any.

``pip install`` builds ``triage._kernels`` from ``_kernels.c`` (see ``setup.py``); on a machine without a C
compiler the install still succeeds and :mod:`triage.sparse` and :mod:`triage.features` run the same
computations in NumPy and Python, more slowly. ``TRIAGE_KERNELS=numpy`` chooses that path on purpose (to compare
the two, or to rule the extension out).
"""
from __future__ import annotations

import os
from types import ModuleType

compiled: ModuleType | None
segment_compiled: ModuleType | None  # jieba's segmentation straight to vocabulary ids (``_segment.c``)
if os.environ.get("TRIAGE_KERNELS", "").lower() == "numpy":
    compiled = segment_compiled = None
else:
    try:
        from . import _kernels as compiled
    except ImportError:  # installed without a C compiler
        compiled = None
    try:
        from . import _segment as segment_compiled
    except ImportError:
        segment_compiled = None

#: Which implementation runs the inner loops: ``"C"`` or ``"NumPy"``.
KERNELS = "NumPy" if compiled is None else "C"
