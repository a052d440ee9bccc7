"""Where the bundled data and the default model live (overridable by environment variables)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("TRIAGE_DATA_DIR", ROOT / "data"))
MODELS_DIR = Path(os.environ.get("TRIAGE_MODELS_DIR", ROOT / "models"))


def default_model_dir() -> Path:
    """``$TRIAGE_MODEL_DIR``, else ``models/default`` in the project."""
    return Path(os.environ.get("TRIAGE_MODEL_DIR", MODELS_DIR / "default"))


UNITS_CSV = DATA_DIR / "units.csv"
CATEGORIES_CSV = DATA_DIR / "categories.csv"
USERDICT = DATA_DIR / "userdict.txt"
TRAIN_CSV = DATA_DIR / "train.csv"
DEV_CSV = DATA_DIR / "dev.csv"
