"""Classification off the event loop, with opportunistic micro-batching.

Requests that arrive while the model is busy are classified together in one ``model.classify_many`` call
(three times the throughput of one call per text). Nothing waits for a batch to fill: a lone request runs at
once, so latency at low load is unchanged. One worker thread at a time runs the model, which avoids threads
fighting over the GIL; more cores are used through ``triage serve --workers N``.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import triage
from triage import InputTextError, Prediction, Predictor

from .config import Settings
from .rounds import RoundQueue

log = logging.getLogger("service")

def load_model(settings: Settings, event: str = "model load") -> Predictor:
    """The model ``settings`` name, with the service's review-threshold overrides applied. The loader's warnings
    (e.g. a model trained with other library versions) go to the log, prefixed with ``event``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = triage.load_model(settings.model_dir)
    for w in caught:
        log.warning("%s: %s", event, w.message)
    if settings.thresholds:
        model.thresholds_ = {**model.thresholds_, **settings.thresholds}
    return model.build_lookup_tables()  # before the first request, which would otherwise pay for them


def model_sha(model: Any) -> str:
    """The sha256 of a loaded model's files, as its manifest gives it ('' without one)."""
    return str((getattr(model, "manifest", None) or {}).get("artifact", {}).get("sha256", ""))


#: Most texts classified in one call; a larger single request still runs whole.
MAX_ROUND_TEXTS = 64


@dataclass
class _Job:
    model: Predictor
    texts: list[str]
    top_k: int
    max_chars: int


class Classifier(RoundQueue[_Job]):
    """Classification jobs served in rounds by one consumer task (start it with :meth:`running`)."""

    name = "classifier"

    def __init__(self, max_round_texts: int = MAX_ROUND_TEXTS) -> None:
        super().__init__(max_round_texts)

    async def classify(
        self, model: Predictor, texts: Sequence[str], *, top_k: int, max_chars: int
    ) -> list[Prediction | InputTextError]:
        """``model.classify_many(texts, top_k=top_k, max_chars=max_chars, errors="return")``, possibly shared with
        other requests: a text the model refuses comes back as its :class:`InputTextError`."""
        return await self.submit(_Job(model, list(texts), top_k, max_chars))

    def size(self, job: _Job) -> int:
        return len(job.texts)

    def key(self, job: _Job) -> tuple[int, int]:
        return id(job.model), job.max_chars

    def execute(self, jobs: list[_Job]) -> list[list[Prediction | InputTextError]]:
        top_k = max(j.top_k for j in jobs)
        preds = jobs[0].model.classify_many([t for j in jobs for t in j.texts], top_k=top_k,
                                            max_chars=jobs[0].max_chars, errors="return")
        out, at = [], 0
        for job in jobs:
            mine = preds[at : at + len(job.texts)]
            at += len(job.texts)
            for p in mine:  # ranking does not depend on top_k: trimming gives what top_k=job.top_k gives
                if isinstance(p, Prediction):
                    del p.alternatives[max(job.top_k, 1) - 1 :]
            out.append(mine)
        return out
