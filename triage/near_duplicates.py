"""Groups of near-duplicate texts, so that cross-validation never puts copies on both sides of a fold."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer


def near_duplicate_groups(texts: Sequence[str], threshold: float = 0.8) -> np.ndarray:
    """A group id per text: texts whose character-trigram TF-IDF cosine is at least ``threshold`` share a group,
    and so do chains of them (connected components). A text with no near duplicate is a group of its own."""
    if not len(texts):
        return np.zeros(0, dtype=np.int64)
    X = TfidfVectorizer(analyzer="char", ngram_range=(3, 3), sublinear_tf=True).fit_transform(texts)
    sim = (X @ X.T).tocsr()
    sim.data = (sim.data >= threshold).astype(np.int8)
    sim.eliminate_zeros()
    _, groups = connected_components(sim, directed=False)
    return groups.astype(np.int64)
