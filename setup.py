"""Builds the optional C kernels of inference (``triage/_kernels.c``); everything else is in pyproject.toml.

``optional=True``: on a machine without a C compiler the install still succeeds and inference runs the same
computations in NumPy, more slowly (see :mod:`triage.kernels`; ``triage info`` says which is in use).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("triage._kernels", ["triage/_kernels.c"], optional=True,
                             extra_compile_args=["-O3", "-ffp-contract=off"])])
