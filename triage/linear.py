"""The two heads' linear classifiers as plain arrays: decision values and calibrated probabilities in NumPy.

Training fits scikit-learn classifiers (:mod:`triage.pipeline`) and exports them here with
:func:`triage.pipeline.export_head`; the formulas reproduce their ``predict_proba`` (a test holds them to 1e-9).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .sparse import Csr

#: How a head turns decision values into probabilities.
#: ``ovr_sigmoid``: one-vs-rest decisions, each through its fitted sigmoid, then normalised (calibrated SVM);
#: ``binary_sigmoid``: one decision column through a sigmoid gives the second class (calibrated SVM, 2 classes);
#: ``softmax``: multinomial logistic regression; ``binary_logistic``: logistic regression with 2 classes.
KINDS = ("ovr_sigmoid", "binary_sigmoid", "softmax", "binary_logistic")


def expit(x: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large ``|x|``."""
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


@dataclass
class LinearHead:
    """Probabilities from decision values ``X @ W + intercept`` (``W`` lives in :class:`Heads`)."""

    classes: list[str]
    kind: str
    intercept: np.ndarray
    a: np.ndarray | None = None  # sigmoid slopes (the ``*_sigmoid`` kinds)
    b: np.ndarray | None = None  # sigmoid offsets

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown head kind {self.kind!r}; expected one of {', '.join(KINDS)}.")
        width = 1 if self.kind.startswith("binary") else len(self.classes)
        if self.intercept.shape != (width,):
            raise ValueError(f"A {self.kind} head over {len(self.classes)} classes needs {width} intercept(s); "
                             f"got shape {self.intercept.shape}.")

    @property
    def width(self) -> int:
        """Decision columns: 1 for the binary kinds, else one per class."""
        return len(self.intercept)

    def proba(self, decision: np.ndarray) -> np.ndarray:
        """Class probabilities from decision values without the intercept, ``(n, width)`` → ``(n, classes)``."""
        d = decision + self.intercept
        if self.kind == "softmax":
            e = np.exp(d - d.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        if self.kind == "binary_logistic":
            p = expit(d[:, 0])
            return np.stack([1 - p, p], axis=1)
        p = expit(-(d * self.a + self.b))
        if self.kind == "binary_sigmoid":
            proba = np.stack([1.0 - p[:, 0], p[:, 0]], axis=1)
        else:
            total = p.sum(axis=1, keepdims=True)
            proba = np.divide(p, total, out=np.full_like(p, 1 / p.shape[1]), where=total != 0)
        proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba

    def class_weights(self, weights: np.ndarray, j: int, rows: np.ndarray) -> np.ndarray:
        """The weights of features ``rows`` pushing towards class ``j`` (a binary head's one column, negated for
        the first class)."""
        if self.width == 1:
            return weights[rows, 0] if j == 1 else -weights[rows, 0]
        return weights[rows, j]

    def config(self) -> dict[str, Any]:
        return {"classes": self.classes, "kind": self.kind}

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}_intercept": self.intercept}
        if self.a is not None:
            out.update({f"{prefix}_sigmoid_a": self.a, f"{prefix}_sigmoid_b": self.b})
        return out

    @classmethod
    def from_saved(cls, config: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str) -> LinearHead:
        return cls([str(c) for c in config["classes"]], config["kind"], arrays[f"{prefix}_intercept"],
                   arrays.get(f"{prefix}_sigmoid_a"), arrays.get(f"{prefix}_sigmoid_b"))


@dataclass
class Heads:
    """Both heads over the shared text features, in one pass.

    ``text_weights`` holds, for every text feature, the category head's columns then the unit head's;
    ``unit_weights`` the unit head's weights for the registry features, multiplied apart. Either head may be
    absent (a model trained for one head only).
    """

    category: LinearHead | None
    unit: LinearHead | None
    text_weights: np.ndarray  # (text features, category width + unit width)
    unit_weights: np.ndarray | None  # (registry features, unit width)

    def __post_init__(self) -> None:
        self.n_cat = self.category.width if self.category else 0
        expected = self.n_cat + (self.unit.width if self.unit else 0)
        if self.text_weights.ndim != 2 or self.text_weights.shape[1] != expected:
            raise ValueError(f"text weights have shape {self.text_weights.shape}; the heads need {expected} columns.")

    def category_weights(self) -> np.ndarray:
        return self.text_weights[:, : self.n_cat]

    def __call__(self, blocks: list[Csr], unit_features: Csr | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Probabilities of each head for texts given as column blocks of the text features (in order)."""
        d, at = None, 0
        for block in blocks:
            part = block.dot(self.text_weights[at : at + block.n_cols])
            d = part if d is None else d + part
            at += block.n_cols
        cat_p = self.category.proba(d[:, : self.n_cat]) if self.category else None
        unit_p = None
        if self.unit:
            unit_d = d[:, self.n_cat :]
            if unit_features is not None and self.unit_weights is not None:
                unit_d = unit_d + unit_features.dot(self.unit_weights)
            unit_p = self.unit.proba(unit_d)
        return cat_p, unit_p
