"""Scores for a model on labelled data: held-out evaluation and stratified cross-validation."""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from .errors import DataError
from .model import is_label


def head_scores(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix of one head."""
    y_true = [str(y) for y in y_true]
    y_pred = [str(y) for y in y_pred]
    labels = sorted(set(y_true) | set(y_pred))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    true_labels = sorted(set(y_true))
    return {
        "n": len(y_true),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, labels=true_labels, average="macro", zero_division=0)), 4),
        "per_class": {
            lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4), "f1": round(float(f[i]), 4), "support": int(s[i])}
            for i, lab in enumerate(labels)
        },
        "confusion": {"labels": labels, "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()},
    }


def score_predictions(predictions, categories=None, units=None) -> dict[str, Any]:
    """Score a list of :class:`triage.model.Prediction` against the labels that are given.

    A label of ``None`` (or NaN, or ``""``) marks a row not labelled for that head: it is left out of that head's
    scores. Besides each head's scores: the share of rows flagged ``needs_review``, and per head the share not
    flagged and their accuracy.
    """
    out: dict[str, Any] = {}
    flagged = np.array([p.needs_review for p in predictions], dtype=bool)
    for head, truth, attr in (("category", categories, "category"), ("unit", units, "unit")):
        if truth is None:
            continue
        rows = [i for i, y in enumerate(truth) if is_label(y)]
        if not rows:
            continue
        y_true = [truth[i] for i in rows]
        pred = [getattr(predictions[i], attr) for i in rows]
        scores = head_scores(y_true, pred)
        correct = np.array([str(a) == str(b) for a, b in zip(y_true, pred)])
        kept = ~flagged[rows]
        scores["auto_routed_share"] = round(float(kept.mean()), 4)
        scores["auto_routed_accuracy"] = round(float(correct[kept].mean()), 4) if kept.any() else None
        out[head] = scores
    out["needs_review_share"] = round(float(flagged.mean()), 4) if len(flagged) else 0.0
    return out


def work_style_scores(y_true: Sequence[str], y_pred: Sequence[str], other: str = "other") -> dict[str, Any]:
    """Work style (any of the eight) against ``other``: detection precision and recall, and on the letters that
    are work style, how often the right one of the eight is named."""
    t = np.array([y != other for y in y_true])
    p = np.array([y != other for y in y_pred])
    same = np.array([a == b for a, b in zip(y_true, y_pred)])
    return {
        "work_style_true": int(t.sum()),
        "work_style_predicted": int(p.sum()),
        "precision": round(float((t & p).sum() / p.sum()), 4) if p.any() else None,
        "recall": round(float((t & p).sum() / t.sum()), 4) if t.any() else None,
        "right_of_eight": round(float(same[t].mean()), 4) if t.any() else None,
        "confusion": {"labels": ["other", "work_style"],
                      "matrix": [[int((~t & ~p).sum()), int((~t & p).sum())], [int((t & ~p).sum()), int((t & p).sum())]]},
    }


def score_by_origin(predictions, frame: pd.DataFrame, thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """Category scores of pooled out-of-fold predictions for each ``origin`` of the frame (``file``, ``real``),
    with work-style detection; with ``thresholds``, also the review flag as those thresholds would set it."""
    out: dict[str, Any] = {}
    if "category" not in frame:
        return out
    for origin, idx in frame.groupby("origin").indices.items():
        labelled = [i for i in idx if is_label(frame["category"].iloc[i])]
        if not labelled:
            continue
        truth = [frame["category"].iloc[i] for i in labelled]
        preds = [predictions[i] for i in labelled]
        scores = score_predictions(preds, truth)["category"]
        scores["work_style"] = work_style_scores(truth, [p.category for p in preds])
        if thresholds:
            correct = np.array([p.category == y for p, y in zip(preds, truth)])
            cat_ok = np.array([p.category_score >= thresholds["category"] for p in preds])
            unit_ok = np.array([p.unit_score >= thresholds["unit"] for p in preds])
            for name, kept in (("category_flag", cat_ok), ("review_flag", cat_ok & unit_ok)):
                scores[name] = {"thresholds": {h: thresholds[h] for h in ("category", "unit")},
                                "flagged_share": round(float(1 - kept.mean()), 4),
                                "unflagged_accuracy": round(float(correct[kept].mean()), 4) if kept.any() else None}
        out[str(origin)] = scores
    return out


def evaluate(model, df: pd.DataFrame, text_col: str, category_col: str | None, unit_col: str | None) -> dict[str, Any]:
    """Classify ``df[text_col]`` with ``model`` and score each head whose label column is given."""
    if category_col is None and unit_col is None:
        raise DataError("Nothing to evaluate: the file has neither a category nor a unit label column.")
    t0 = time.perf_counter()
    texts = ["" if pd.isna(t) else str(t) for t in df[text_col]]
    raw = model.classify_many(texts, evidence=False, errors="return")
    seconds = time.perf_counter() - t0
    keep = [i for i, p in enumerate(raw) if not isinstance(p, Exception)]
    result = score_predictions(
        [raw[i] for i in keep],
        [df[category_col].iloc[i] for i in keep] if category_col else None,
        [df[unit_col].iloc[i] for i in keep] if unit_col else None,
    )
    result["skipped_rows"] = len(raw) - len(keep)  # empty or unusable texts, not scored
    result["seconds"] = round(seconds, 3)
    return result


def cross_validate(
    fit_model,
    df: pd.DataFrame,
    text_col: str,
    category_col: str | None,
    unit_col: str | None,
    n_splits: int = 5,
    return_predictions: bool = False,
    n_jobs: int | None = None,
    groups: Sequence | None = None,
    random_state: int = 0,
) -> dict[str, Any]:
    """Stratified k-fold CV (shuffle, ``random_state=0``) with pooled out-of-fold scores and wall time.

    ``fit_model(train_df)`` must return a fitted model; the same function ``triage train`` uses is passed in.
    With ``groups`` (e.g. near-duplicate groups) the folds are stratified *and* grouped: a group never straddles
    a split. Rows without a label for the stratifying head form a stratum of their own.
    With ``return_predictions`` the pooled predictions, in row order, are under ``"predictions"``.
    Folds run in parallel on ``n_jobs`` processes (default: one per core, at most one per fold).
    """
    splits = cv_splits(df, category_col or unit_col, n_splits, groups, random_state)
    n_jobs = n_jobs or min(n_splits, os.cpu_count() or 1)
    texts = df[text_col]
    t0 = time.perf_counter()
    folds = Parallel(n_jobs=n_jobs)(
        delayed(_fold)(fit_model, df.iloc[tr], texts.iloc[te].tolist()) for tr, te in splits
    )
    preds: list = [None] * len(df)
    for (_, te), fold in zip(splits, folds):
        for i, p in zip(te, fold):
            preds[i] = p
    seconds = time.perf_counter() - t0
    result = score_predictions(
        preds,
        df[category_col].tolist() if category_col else None,
        df[unit_col].tolist() if unit_col else None,
    )
    result.update({"folds": n_splits, "grouped": groups is not None, "seconds": round(seconds, 2)})
    if return_predictions:
        result["predictions"] = preds
    return result


def cv_splits(df: pd.DataFrame, strat_col: str | None, n_splits: int, groups: Sequence | None = None,
              random_state: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) index pairs of :func:`cross_validate`: stratified on ``strat_col``, grouped if ``groups``."""
    if strat_col is None:
        raise DataError("Cross-validation needs a category or unit label column.")
    strata = df[strat_col].map(lambda y: y if is_label(y) else "(unlabelled)")
    counts = strata.value_counts()
    if counts.min() < n_splits:
        raise DataError(
            f"Label {counts.idxmin()!r} has only {counts.min()} rows; {n_splits}-fold CV needs at least {n_splits} per label."
        )
    if groups is None:
        skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        return list(skf.split(np.zeros(len(df)), strata.to_numpy()))
    sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    return list(sgkf.split(np.zeros(len(df)), strata.to_numpy(), np.asarray(groups)))


def _fold(fit_model, train_df: pd.DataFrame, test_texts: list[str]) -> list:
    """Fit on one fold's training rows and predict its held-out texts."""
    return fit_model(train_df).classify_many(test_texts, evidence=False)
