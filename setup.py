"""Builds the optional C kernels of inference (``triage/_kernels.c``, ``triage/_segment.c``); everything else is in
pyproject.toml.

``optional=True``: on a machine without a C compiler the install still succeeds and inference runs the same
computations in NumPy, more slowly (see :mod:`triage.kernels`; ``triage info`` says which is in use).
"""
from setuptools import Extension, setup

_FLAGS = ["-O3", "-ffp-contract=off"]  # no fused multiply-add: sums come out as the reference computes them

_SHARED = ["triage/_buffers.h"]  # the argument-buffer checks both extensions use

setup(ext_modules=[Extension("triage._kernels", ["triage/_kernels.c"], depends=_SHARED, optional=True,
                             extra_compile_args=_FLAGS),
                   Extension("triage._segment", ["triage/_segment.c"], depends=_SHARED, optional=True,
                             extra_compile_args=_FLAGS)])
