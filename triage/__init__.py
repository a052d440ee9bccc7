"""triage: route Chinese complaint letters by work-style category and responsible unit.

>>> from triage import load_model                      # doctest: +SKIP
>>> load_model().classify("东坝派出所办户口等了一上午窗口没人").unit  # doctest: +SKIP
'police'
"""
from __future__ import annotations

from pathlib import Path

from .errors import (
    DataError,
    InputTextError,
    ModelError,
    ModelIntegrityError,
    ModelNotFoundError,
    TriageError,
)
from .prediction import Prediction
from .predictor import Predictor

__all__ = [
    "load_model",
    "Predictor",
    "TriageModel",
    "Prediction",
    "TriageError",
    "InputTextError",
    "DataError",
    "ModelError",
    "ModelNotFoundError",
    "ModelIntegrityError",
]


def load_model(path: str | Path | None = None) -> Predictor:
    """Load a verified model (default: ``$TRIAGE_MODEL_DIR`` or ``models/default``).

    Every file is checked against the manifest's sha256 before it is read, and nothing in it is code. The
    returned :class:`Predictor` carries its manifest as ``model.manifest``.
    """
    from .paths import default_model_dir

    return Predictor.from_dir(path or default_model_dir())


def __getattr__(name: str):
    if name == "TriageModel":  # the training estimator imports scikit-learn: only when asked for
        from .model import TriageModel

        return TriageModel
    raise AttributeError(f"module 'triage' has no attribute {name!r}")
