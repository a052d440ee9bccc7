"""Training: labelled table in, fitted :class:`TriageModel` and its metrics out."""
from __future__ import annotations

import csv
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import paths
from .artifacts import save
from .errors import DataError
from .evaluate import cross_validate
from .io import check_columns, read_table
from .model import DEFAULT_THRESHOLDS, CategoryInfo, TriageModel
from .pipeline import DEFAULT_PARAMS
from .registry import Registry
from .text import Segmenter, normalize, read_userdict

log = logging.getLogger(__name__)

#: Review thresholds are tuned so that answers above them are right this often in cross-validation.
TARGET_PRECISION = {"category": 0.95, "unit": 0.97}


@dataclass
class TrainingData:
    """Texts and labels gathered from one or more files."""

    frame: pd.DataFrame  # columns: text, and category and/or unit
    has_category: bool
    has_unit: bool
    sha256: str
    files: list[str]
    skipped: int


def load_categories(path: str | Path = paths.CATEGORIES_CSV) -> list[CategoryInfo]:
    """Display data for category ids (``id, char, name``)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return [CategoryInfo(r["id"], r.get("char", ""), r.get("name", r["id"])) for r in csv.DictReader(f)]


def load_training_data(
    files: Sequence[str | Path],
    text_col: str = "text",
    category_col: str | None = "category",
    unit_col: str | None = "unit",
) -> TrainingData:
    """Read and concatenate labelled files. A label column that is ``''``/``None`` or absent from every file is
    left out (that head is not trained). Rows with empty text or an empty label are skipped and counted."""
    if not files:
        raise DataError("No training files given; pass --data FILE.")
    frames, digest = [], hashlib.sha256()
    for f in files:
        df = read_table(f, required=[text_col])
        digest.update(Path(f).read_bytes())
        frames.append(df)
    cols = {c for df in frames for c in df.columns}
    category_col = category_col if category_col and category_col in cols else None
    unit_col = unit_col if unit_col and unit_col in cols else None
    if category_col is None and unit_col is None:
        raise DataError(
            f"The training data has no label column: looked for category/unit columns, found {sorted(map(str, cols))}. "
            "Name them with --category-col / --unit-col."
        )
    for f, df in zip(files, frames):
        check_columns(df, [c for c in (category_col, unit_col) if c], f)
    data = pd.concat(frames, ignore_index=True)
    out = pd.DataFrame({"text": data[text_col].astype(str)})
    if category_col:
        out["category"] = data[category_col].astype(str).str.strip()
    if unit_col:
        out["unit"] = data[unit_col].astype(str).str.strip()
    keep = out["text"].map(lambda t: bool(normalize(t)))
    for col in ("category", "unit"):
        if col in out:
            keep &= out[col].ne("") & out[col].ne("nan")
    skipped = int((~keep).sum())
    if skipped:
        log.warning("Skipped %d of %d training rows with empty text or label.", skipped, len(out))
    out = out[keep].reset_index(drop=True)
    if len(out) < 10:
        raise DataError(f"Only {len(out)} usable training rows; at least 10 are needed.")
    return TrainingData(out, bool(category_col), bool(unit_col), digest.hexdigest(), [str(f) for f in files], skipped)


def build_segmenter(registry: Registry, userdicts: Sequence[str | Path] = ()) -> Segmenter:
    """Segmenter with the user dictionaries plus every registry name and service word kept whole."""
    words: dict[str, tuple[str, int, str | None]] = {}
    for path in userdicts:
        for w in read_userdict(path):
            words[w[0]] = w
    for name in registry.dictionary_words():
        words.setdefault(name, (name, 2000, None))
    return Segmenter(sorted(words.values()))


def make_fitter(registry: Registry, segmenter: Segmenter, categories: list[CategoryInfo], params: dict | None,
                thresholds: dict | None = None):
    """Return ``fit(frame) -> TriageModel``: the one training step shared by train, CV and benchmarks."""

    def fit(frame: pd.DataFrame) -> TriageModel:
        model = TriageModel(segmenter=segmenter, registry=registry, categories=categories, params=params,
                            thresholds=thresholds)
        return model.fit(
            frame["text"].tolist(),
            frame["category"].tolist() if "category" in frame else None,
            frame["unit"].tolist() if "unit" in frame else None,
        )

    return fit


def tune_thresholds(oof_preds, frame: pd.DataFrame) -> tuple[dict[str, float], dict[str, Any]]:
    """Lowest score per head at which cross-validated answers reach :data:`TARGET_PRECISION`.

    Returns the thresholds and, per head, the share of letters auto-routed at that threshold and their accuracy.
    """
    out, report = dict(DEFAULT_THRESHOLDS), {}
    for head, score_attr in (("category", "category_score"), ("unit", "unit_score")):
        if head not in frame:
            continue
        scores = np.array([getattr(p, score_attr) for p in oof_preds])
        correct = np.array([getattr(p, head) == y for p, y in zip(oof_preds, frame[head])])
        for t in np.round(np.arange(0.2, 0.96, 0.05), 2):
            kept = scores >= t
            if kept.sum() >= 0.3 * len(scores) and correct[kept].mean() >= TARGET_PRECISION[head]:
                out[head] = float(t)
                break
        kept = scores >= out[head]
        report[head] = {"threshold": out[head], "target_accuracy": TARGET_PRECISION[head],
                        "auto_routed_share": round(float(kept.mean()), 4),
                        "auto_routed_accuracy": round(float(correct[kept].mean()), 4) if kept.any() else None}
    return out, report


def train(
    data: TrainingData,
    *,
    registry: Registry,
    categories: list[CategoryInfo] | None = None,
    userdicts: Sequence[str | Path] = (),
    params: dict[str, Any] | None = None,
    cv: int = 5,
) -> tuple[TriageModel, dict[str, Any]]:
    """Fit a model on ``data``; with ``cv`` ≥ 2 also measure it by cross-validation and tune the review thresholds.

    Returns ``(model, metrics)``.
    """
    categories = categories if categories is not None else load_categories()
    segmenter = build_segmenter(registry, userdicts)
    params = {**DEFAULT_PARAMS, **(params or {})}
    frame = data.frame
    metrics: dict[str, Any] = {"rows": len(frame), "skipped_rows": data.skipped}
    thresholds = dict(DEFAULT_THRESHOLDS)
    if cv and cv >= 2:
        fit = make_fitter(registry, segmenter, categories, params)
        cv_metrics = cross_validate(
            fit, frame, "text", "category" if data.has_category else None, "unit" if data.has_unit else None,
            n_splits=cv, return_predictions=True,
        )
        thresholds, metrics["review"] = tune_thresholds(cv_metrics.pop("predictions"), frame)
        metrics["cv"] = cv_metrics
    t0 = time.perf_counter()
    model = make_fitter(registry, segmenter, categories, params, thresholds)(frame)
    metrics["fit_seconds"] = round(time.perf_counter() - t0, 2)
    metrics["thresholds"] = thresholds
    return model, metrics


def train_and_save(
    files: Sequence[str | Path],
    out: str | Path,
    *,
    text_col: str = "text",
    category_col: str | None = "category",
    unit_col: str | None = "unit",
    units_csv: str | Path = paths.UNITS_CSV,
    categories_csv: str | Path = paths.CATEGORIES_CSV,
    userdicts: Sequence[str | Path] = (paths.USERDICT,),
    params: dict[str, Any] | None = None,
    cv: int = 5,
) -> dict[str, Any]:
    """Everything ``triage train`` does: read, fit, measure, save model + manifest. Returns the manifest."""
    data = load_training_data(files, text_col, category_col, unit_col)
    registry = Registry.from_csv(units_csv)
    categories = load_categories(categories_csv) if Path(categories_csv).exists() else []
    userdicts = [u for u in userdicts if Path(u).exists()]
    model, metrics = train(data, registry=registry, categories=categories, userdicts=userdicts, params=params, cv=cv)
    manifest = {
        "labels": {"category": model.category_labels, "unit": model.unit_labels},
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in {**DEFAULT_PARAMS, **(params or {})}.items()},
        "thresholds": model.thresholds_,
        "training_data": {"files": [Path(f).name for f in data.files], "sha256": data.sha256, "rows": len(data.frame),
                          "skipped_rows": data.skipped},
        "registry": {"file": Path(units_csv).name, "sha256": hashlib.sha256(Path(units_csv).read_bytes()).hexdigest(),
                     "units": len(registry)},
        "metrics": metrics,
    }
    save(model, out, manifest)
    return manifest
