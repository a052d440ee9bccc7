"""Real labelled letters: labels kept by id in ``data/real/labels.csv``, texts read from the dataset at run time.

The letters are public message-board posts (``../shared/datasets/gov-messages-2020``). Their texts are not ours
to redistribute, so the project keeps only ids and labels and joins them with the texts when it trains.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from . import paths
from .errors import DataError

#: The labels file: ``id, source, stratum, category, label_a, label_b, label_c, settled``.
LABELS_CSV = paths.DATA_DIR / "real" / "labels.csv"
#: The dataset's files, with how a letter's text is made from each.
DATASET_FILES = ("messages.csv", "unlabelled.csv")


def default_dataset_dir() -> Path:
    """``$TRIAGE_REAL_DATASET``, else ``../shared/datasets/gov-messages-2020`` beside the project."""
    return Path(os.environ.get("TRIAGE_REAL_DATASET", paths.ROOT.parent / "shared" / "datasets" / "gov-messages-2020"))


def read_dataset(dataset_dir: str | Path | None = None) -> pd.DataFrame:
    """Every letter of the dataset as ``id, source, text``; ``unlabelled.csv`` joins title and body with "。"."""
    folder = Path(dataset_dir or default_dataset_dir())
    missing = [f for f in DATASET_FILES if not (folder / f).is_file()]
    if missing:
        raise DataError(f"The real-letter dataset is not at {folder} (missing {', '.join(missing)}); "
                        "set TRIAGE_REAL_DATASET to its folder.")
    messages = pd.read_csv(folder / "messages.csv", dtype=str, keep_default_na=False)
    board = pd.read_csv(folder / "unlabelled.csv", dtype=str, keep_default_na=False)
    return pd.concat(
        [
            pd.DataFrame({"id": messages["id"], "source": "messages.csv", "text": messages["text"]}),
            pd.DataFrame({"id": board["id"], "source": "unlabelled.csv",
                          "text": board["title"].str.strip() + "。" + board["text"].str.strip()}),
        ],
        ignore_index=True,
    )


def load_real_letters(labels_csv: str | Path = LABELS_CSV, dataset_dir: str | Path | None = None) -> pd.DataFrame:
    """The labelled real letters as ``id, text, category, stratum``, in the labels file's order.

    Raises :class:`DataError` when the dataset or the labels file is missing, or a labelled id is not in the
    dataset (the labels then belong to another version of it).
    """
    labels_csv = Path(labels_csv)
    if not labels_csv.is_file():
        raise DataError(f"No real-letter labels at {labels_csv}.")
    labels = pd.read_csv(labels_csv, dtype=str, keep_default_na=False)
    texts = read_dataset(dataset_dir).set_index("id")["text"]
    absent = labels.loc[~labels["id"].isin(texts.index), "id"]
    if len(absent):
        raise DataError(f"{len(absent)} labelled id(s) (e.g. {absent.iloc[0]}) are not in the dataset; "
                        "the labels were made for another version of it.")
    return pd.DataFrame({"id": labels["id"], "text": texts.loc[labels["id"]].to_numpy(),
                         "category": labels["category"], "stratum": labels.get("stratum", "")})
