"""jieba's dictionary and HMM, read as data from the installed ``jieba`` package, and the compiled segmenter built
from them (``triage/_segment.c``).

The compiled segmenter gives the tokens of :class:`~triage.text.Segmenter` (rjieba) and turns them into vocabulary
columns in the same pass, so a batch never builds a Python string per token. Nothing from the jieba package is
imported or executed: ``dict.txt`` is read as text, and the HMM's probabilities are parsed out of the literal
tables of ``finalseg/prob_*.py``.
"""
from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from .kernels import segment_compiled

log = logging.getLogger(__name__)

_STATES = "BEMS"
#: Checked on every build, with a sample of the vocabulary: the compiled segmenter must cut it as the reference does.
_PROBE = "县人社局窗口说材料不全,让我下周再来;第3次去了还没办好。ABC-12.5%的费用+#&_x 又拖了二十多天,电话138xxxx1234没人接!"
#: Every how many vocabulary words one goes into the probe.
_PROBE_EVERY = 7
_MIN_FLOAT = -3.14e100
_SECTION = re.compile(r"'([BEMS])'\s*:\s*\{([^{}]*)\}")
_PROB = re.compile(r"'(\\u[0-9a-fA-F]{4}|[^'\\])'\s*:\s*(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)")
_START = re.compile(r"'([BEMS])'\s*:\s*(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)")


def jieba_dir() -> Path | None:
    """Where the jieba package is installed (found without importing it), or ``None``."""
    try:
        spec = importlib.util.find_spec("jieba")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def read_hmm(directory: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """jieba's HMM as arrays over the states B, E, M, S: start (4), transitions (4×4, ``-3.14e100`` where jieba has
    none) and the emissions of the characters U+4E00..U+9FD5 (one row each, ``-3.14e100`` where jieba has none)."""
    finalseg = directory / "finalseg"
    start = np.full(4, _MIN_FLOAT)
    for state, value in _START.findall((finalseg / "prob_start.py").read_text(encoding="utf-8")):
        start[_STATES.index(state)] = float(value)
    trans = np.full((4, 4), _MIN_FLOAT)
    for state, body in _SECTION.findall((finalseg / "prob_trans.py").read_text(encoding="utf-8")):
        for to, value in _START.findall(body):
            trans[_STATES.index(state), _STATES.index(to)] = float(value)
    first, last = segment_compiled.HMM_FIRST, segment_compiled.HMM_LAST
    emit = np.full((last - first + 1, 4), _MIN_FLOAT)
    sections = _SECTION.findall((finalseg / "prob_emit.py").read_text(encoding="utf-8"))
    if sorted(s for s, _ in sections) != sorted(_STATES):
        raise ValueError(f"{finalseg / 'prob_emit.py'}: expected one table per state B, E, M, S")
    for state, body in sections:
        keys, values = zip(*_PROB.findall(body)) if body.strip() else ((), ())
        # '\\u4e00' escapes as the file writes them (or literal characters): decoded all at once
        chars = "".join(keys).encode("ascii", "backslashreplace").decode("unicode_escape")
        chars = np.frombuffer(chars.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        values = np.array(values, dtype=np.float64)
        keep = (chars >= first) & (chars <= last)
        emit[chars[keep] - first, _STATES.index(state)] = values[keep]
    return start, trans, emit


@lru_cache(maxsize=1)
def _jieba_data() -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray] | None:
    """jieba's ``dict.txt`` and HMM, read once per process; ``None`` when the package or its files are missing."""
    directory = jieba_dir()
    if segment_compiled is None or directory is None:
        return None
    try:
        return ((directory / "dict.txt").read_bytes(), *read_hmm(directory))
    except (OSError, ValueError):
        return None


def probe_text(vocabulary: Sequence[str]) -> str:
    """A text to check a segmenter on: a fixed sentence and every few words of the model's vocabulary."""
    return _PROBE + "".join(vocabulary[::_PROBE_EVERY])


def compiled_dictionary(words: Sequence[tuple[str, int, str | None]], vocabulary: Sequence[str],
                        check: tuple[str, list[str]]):
    """A :class:`triage._segment.Dictionary` of jieba's dictionary plus ``words`` (the model's own, with their
    frequencies) that maps tokens to their index in ``vocabulary``.

    ``None`` without the extension or jieba's files, and when it does not cut the text of ``check`` into its tokens
    (what the model's :class:`~triage.text.Segmenter` gave, see :func:`probe_text`): a jieba whose dictionary
    differs from rjieba's would otherwise change the tokens without a word.
    """
    data = _jieba_data()
    if data is None:
        return None
    text, start, trans, emit = data
    dictionary = segment_compiled.Dictionary(text, [(w, int(f)) for w, f, _ in words], list(vocabulary), start,
                                             np.ascontiguousarray(trans).ravel(), np.ascontiguousarray(emit).ravel())
    text, tokens = check
    if dictionary.cut(text) != list(tokens):
        log.warning("the compiled segmenter does not cut like rjieba here (jieba's dictionary differs?); "
                    "segmenting with rjieba")
        return None
    return dictionary
