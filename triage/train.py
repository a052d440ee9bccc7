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
from .evaluate import cross_validate, score_by_origin
from .io import check_columns, read_table
from .model import TriageModel, is_label
from .near_duplicates import near_duplicate_groups
from .pipeline import DEFAULT_PARAMS
from .prediction import CategoryInfo
from .predictor import DEFAULT_THRESHOLDS
from .real_letters import load_real_letters
from .registry import Registry
from .text import Segmenter, normalize, read_userdict

log = logging.getLogger(__name__)

#: Review thresholds are tuned so that answers above them are right this often in cross-validation: categories
#: on the real letters when the training data has them (the stream users send), else on all rows.
TARGET_PRECISION = {"category": 0.95, "unit": 0.97}
TARGET_PRECISION_REAL = {"category": 0.92}
#: Real letters whose character-trigram cosine reaches this are kept on one side of every CV split.
NEAR_DUPLICATE_THRESHOLD = 0.7


@dataclass
class TrainingData:
    """Texts and labels gathered from one or more files."""

    frame: pd.DataFrame  # columns: text, category and/or unit (None where unlabelled), origin, group
    has_category: bool
    has_unit: bool
    sha256: str
    files: list[str]
    skipped: int
    real_rows: int = 0


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
    labelled = pd.Series(False, index=out.index)
    for col, src in (("category", category_col), ("unit", unit_col)):
        if src:
            labels = data[src].astype(str).str.strip()
            missing = data[src].isna() | labels.eq("") | labels.eq("nan")
            out[col] = labels.where(~missing, None)
            labelled |= ~missing
    keep = out["text"].map(lambda t: bool(normalize(t))) & labelled
    skipped = int((~keep).sum())
    if skipped:
        log.warning("Skipped %d of %d training rows with empty text or no label.", skipped, len(out))
    out = out[keep].reset_index(drop=True)
    if len(out) < 10:
        raise DataError(f"Only {len(out)} usable training rows; at least 10 are needed.")
    out["origin"] = "file"
    out["group"] = np.arange(len(out))
    return TrainingData(out, bool(category_col), bool(unit_col), digest.hexdigest(), [str(f) for f in files], skipped)


def add_real_letters(data: TrainingData, letters: pd.DataFrame, labels_sha256: str) -> TrainingData:
    """``data`` plus real letters labelled for the category only (``id, text, category``, see
    :func:`triage.real_letters.load_real_letters`); near-duplicate letters share a CV group."""
    groups = near_duplicate_groups(letters["text"].tolist(), NEAR_DUPLICATE_THRESHOLD)
    real = pd.DataFrame({"text": letters["text"].to_numpy(), "category": letters["category"].to_numpy(),
                         "origin": "real", "group": groups + int(data.frame["group"].max()) + 1,
                         "stratum": letters["stratum"].to_numpy() if "stratum" in letters else ""})
    if data.has_unit:
        real["unit"] = None
    frame = pd.concat([data.frame, real], ignore_index=True)
    digest = hashlib.sha256(data.sha256.encode() + labels_sha256.encode()).hexdigest()
    return TrainingData(frame, True, data.has_unit, digest, data.files, data.skipped, real_rows=len(real))


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
        weight = (params or {}).get("real_weight", DEFAULT_PARAMS["real_weight"])
        real = frame["origin"].eq("real").to_numpy() if "origin" in frame else None
        return model.fit(
            frame["text"].tolist(),
            _labels(frame, "category"),
            _labels(frame, "unit"),
            sample_weight=np.where(real, weight, 1.0) if real is not None and weight != 1.0 else None,
        )

    return fit


def _labels(frame: pd.DataFrame, head: str) -> list[str | None] | None:
    """A head's labels with ``None`` where a row has none; ``None`` when the frame has no such column."""
    if head not in frame:
        return None
    return [y if is_label(y) else None for y in frame[head]]


def tune_thresholds(oof_preds, frame: pd.DataFrame) -> tuple[dict[str, float], dict[str, Any]]:
    """Lowest score per head at which cross-validated answers reach their target accuracy.

    The category threshold is tuned on the real letters when the frame has them (``origin == "real"``, target
    :data:`TARGET_PRECISION_REAL`), else on every row (:data:`TARGET_PRECISION`); each head only on rows labelled
    for it. Returns the thresholds and, per head, the rows it was tuned on, the share of them auto-routed at
    that threshold and their accuracy.
    """
    out, report = dict(DEFAULT_THRESHOLDS), {}
    real = frame["origin"].eq("real").to_numpy() if "origin" in frame else np.zeros(len(frame), dtype=bool)
    for head, score_attr in (("category", "category_score"), ("unit", "unit_score")):
        if head not in frame:
            continue
        rows = frame[head].map(is_label).to_numpy()
        target, tuned_on = TARGET_PRECISION[head], "all"
        if head in TARGET_PRECISION_REAL and (rows & real).any():
            rows, target, tuned_on = rows & real, TARGET_PRECISION_REAL[head], "real"
        idx = np.flatnonzero(rows)
        if not len(idx):
            continue
        scores = np.array([getattr(oof_preds[i], score_attr) for i in idx])
        correct = np.array([getattr(oof_preds[i], head) == frame[head].iloc[i] for i in idx])
        out[head] = select_threshold(scores, correct, target, default=out[head])
        kept = scores >= out[head]
        report[head] = {"threshold": out[head], "target_accuracy": target, "tuned_on": tuned_on,
                        "rows": len(idx), "auto_routed_share": round(float(kept.mean()), 4),
                        "auto_routed_accuracy": round(float(correct[kept].mean()), 4) if kept.any() else None}
    return out, report


def select_threshold(scores: np.ndarray, correct: np.ndarray, target: float, *, default: float,
                     min_share: float = 0.3) -> float:
    """The lowest threshold on a 0.01 grid from 0.2 at which the answers scoring at least it are right ``target``
    of the time while at least ``min_share`` of them are kept; ``default`` when none is."""
    for t in np.round(np.arange(0.2, 0.99, 0.01), 2):
        kept = scores >= t
        if kept.sum() >= min_share * len(scores) and correct[kept].mean() >= target:
            return float(t)
    return default


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
            n_splits=cv, return_predictions=True, groups=frame["group"].to_numpy(),
        )
        preds = cv_metrics.pop("predictions")
        thresholds, metrics["review"] = tune_thresholds(preds, frame)
        metrics["cv"] = cv_metrics
        if data.real_rows:
            metrics["cv_by_origin"] = score_by_origin(preds, frame, thresholds)
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
    real_labels: str | Path | None = None,
    real_dataset: str | Path | None = None,
) -> dict[str, Any]:
    """Everything ``triage train`` does: read, fit, measure, save model + manifest. Returns the manifest.

    With ``real_labels`` (see :mod:`triage.real_letters`) the real letters join the training data for the
    category head; when their dataset is absent they are left out and the reason is recorded in the manifest.
    """
    data = load_training_data(files, text_col, category_col, unit_col)
    real_info: dict[str, Any] | None = None
    if real_labels is not None:
        data, real_info = with_real_letters(data, real_labels, real_dataset)
    registry = Registry.from_csv(units_csv)
    categories = load_categories(categories_csv) if Path(categories_csv).exists() else []
    userdicts = [u for u in userdicts if Path(u).exists()]
    model, metrics = train(data, registry=registry, categories=categories, userdicts=userdicts, params=params, cv=cv)
    manifest = {
        "labels": {"category": model.category_labels, "unit": model.unit_labels},
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in {**DEFAULT_PARAMS, **(params or {})}.items()},
        "thresholds": model.thresholds_,
        "training_data": {"files": [Path(f).name for f in data.files], "sha256": data.sha256, "rows": len(data.frame),
                          "skipped_rows": data.skipped, "real_letters": real_info},
        "registry": {"file": Path(units_csv).name, "sha256": hashlib.sha256(Path(units_csv).read_bytes()).hexdigest(),
                     "units": len(registry)},
        "metrics": metrics,
    }
    save(model.predictor_, out, manifest)
    return manifest


def with_real_letters(data: TrainingData, labels_csv: str | Path, dataset: str | Path | None
                       ) -> tuple[TrainingData, dict[str, Any]]:
    """``data`` plus the real letters, or ``data`` alone (with the reason) when their texts are not here."""
    labels_csv = Path(labels_csv)
    info: dict[str, Any] = {"labels": labels_csv.name}
    try:
        letters = load_real_letters(labels_csv, dataset)
    except DataError as e:
        log.info("Left out the real letters: %s", e)  # the CLI says it in one line; the manifest records it
        return data, {**info, "rows": 0, "left_out": str(e)}
    sha = hashlib.sha256(labels_csv.read_bytes()).hexdigest()
    return add_real_letters(data, letters, sha), {**info, "rows": len(letters), "sha256": sha}
