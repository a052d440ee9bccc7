"""Text normalisation, PII masking and segmentation: the first steps of every path."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import sys
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import filterfalse
from pathlib import Path

import numpy as np
from opencc import OpenCC

from .errors import InputTextError, InvalidTextError, TextTooLongError

#: Texts longer than this are refused by :func:`check_text` (a setting of the API and CLI may lower it).
MAX_TEXT_CHARS = 100_000

_T2S = OpenCC("t2s")  # the C++ OpenCC binding: about 50x faster than pure-Python ports
_SPACE = re.compile(r"\s+")
_SPACES = re.compile(" {2,}")
_SURROGATE = re.compile("[\ud800-\udfff]")


#: Unicode categories removed by normalisation: control, format, surrogate and private-use characters.
_DROPPED = frozenset(("Cc", "Cf", "Cs", "Co"))


@lru_cache(maxsize=65536)
def _norm_char(ch: str) -> str:
    """Normalise one character as :func:`normalize` does a whole text (white space → one space)."""
    if ch.isspace():
        return " "
    out = unicodedata.normalize("NFKC", ch)
    if out.isspace():
        return " "
    return "".join(c for c in out if unicodedata.category(c) not in _DROPPED)


def normalize(text: str) -> str:
    """Return the normalised form of ``text`` that every model sees.

    NFKC (full-width to half-width), white space collapsed to one space and stripped, control, format,
    surrogate and private-use characters removed, traditional characters converted to simplified (OpenCC t2s).
    """
    return normalize_many([text])[0]


def normalize_many(texts: Sequence[str]) -> list[str]:
    """:func:`normalize` over a batch, about three times faster than one text at a time.

    NFKC runs as a table look-up over all texts at once, the table also turning every white-space character into
    a space; a text the table leaves un-normalised (a combining sequence, say) goes through
    :func:`unicodedata.normalize`. The table maps characters to compatibility equivalents, so either way the
    result is exactly that of NFKC followed by white-space collapsing.
    """
    out = []
    for s, spaces_only in _fold_many(texts):
        if spaces_only:  # the only white space left is U+0020
            s = s.strip(" ")
            if "  " in s:
                s = _SPACES.sub(" ", s)
        else:
            s = _SPACE.sub(" ", s).strip()
        if not s.isprintable():
            s = "".join(c for c in s if c == " " or unicodedata.category(c) not in _DROPPED)
            s = _SPACE.sub(" ", s).strip()
        out.append(s if s.isascii() else _T2S.convert(s))
    return out


#: Characters in a batch from which NFKC goes through :func:`_fold_table` (built once, in a twentieth of a second).
_TABLE_FROM = 20_000


def _fold_many(texts: Sequence[str]) -> list[tuple[str, bool]]:
    """Each text in NFKC, and whether the table alone did it (its white space is then only U+0020).

    A small batch (a letter at the desk) skips the table: :func:`unicodedata.normalize` on each text gives the
    same string once white space is collapsed, without building the table first.
    """
    if sum(map(len, texts)) < _TABLE_FROM:
        return [(unicodedata.normalize("NFKC", t), False) for t in texts]
    table = _fold_table()
    lengths = list(map(len, texts))
    cp = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    bmp = cp < len(table)
    mapped = np.where(bmp, table[np.where(bmp, cp, 0)], cp).tobytes().decode("utf-32-le", "surrogatepass")
    out, start = [], 0
    for n in lengths:
        s = mapped[start : start + n]
        start += n
        out.append((s, True) if unicodedata.is_normalized("NFKC", s) else (unicodedata.normalize("NFKC", s), False))
    return out


@lru_cache(maxsize=1)
def _fold_table() -> np.ndarray:
    """Basic Multilingual Plane code point → a space for white space, else its NFKC form if that is one character."""
    table = np.arange(0x10000, dtype=np.uint32)
    for c in range(0x10000):
        if 0xD800 <= c < 0xE000:
            continue
        ch = chr(c)
        nf = unicodedata.normalize("NFKC", ch)
        if ch.isspace():
            table[c] = 0x20
        elif len(nf) == 1:
            table[c] = ord(nf)
    return table


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """Normalise ``text`` character by character and map each output character to its index in ``text``.

    Gives the same string as :func:`normalize` except inside rare multi-character NFKC compositions;
    used to point evidence back into the original text. After the first few calls in a process, texts whose
    characters each normalise to at most one character (nearly all) take a vectorised path with the same result.
    """
    global _offset_calls
    _offset_calls += 1
    fast = _char_offsets(text) if _offset_calls > _OFFSET_TABLE_FROM else None
    flat, offsets = fast if fast is not None else _char_offsets_loop(text)
    simplified = _T2S.convert(flat)
    if len(simplified) == len(flat):
        return simplified, offsets
    # A phrase conversion changed the length: convert character by character to keep the map exact.
    return "".join(_T2S.convert(c) or c for c in flat), offsets


#: Calls of :func:`normalize_with_offsets` after which it builds and uses :func:`_char_table`.
_OFFSET_TABLE_FROM = 16
_offset_calls = 0
_DROP, _MULTI = -1, -2


def _char_offsets_loop(text: str) -> tuple[str, list[int]]:
    """The normalised characters of ``text`` (as one string) and the index each comes from, one by one."""
    chars: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        for out in _norm_char(ch):
            if out == " " and (not chars or chars[-1] == " "):
                continue
            chars.append(out)
            offsets.append(i)
    if chars and chars[-1] == " ":
        chars.pop()
        offsets.pop()
    return "".join(chars), offsets


def _char_offsets(text: str) -> tuple[str, list[int]] | None:
    """:func:`_char_offsets_loop` with NumPy, or ``None`` for a text it cannot do (a character outside the Basic
    Multilingual Plane, or one that normalises to several characters)."""
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if cp.size and int(cp.max()) >= 0x10000:
        return None
    mapped = _char_table()[cp]
    if (mapped == _MULTI).any():
        return None
    idx = np.flatnonzero(mapped != _DROP)
    out = mapped[idx]
    space = out == 0x20
    keep = ~(space & np.concatenate(([True], space[:-1])))  # a space after a space, or first, goes
    idx, out = idx[keep], out[keep]
    if len(out) and out[-1] == 0x20:
        idx, out = idx[:-1], out[:-1]
    return out.astype(np.uint32).tobytes().decode("utf-32-le"), idx.tolist()


@lru_cache(maxsize=1)
def _char_table() -> np.ndarray:
    """Basic Multilingual Plane code point → the one character :func:`_norm_char` gives, or ``_DROP`` / ``_MULTI``."""
    table = np.full(0x10000, _MULTI, dtype=np.int64)
    for c in range(0x10000):
        if not 0xD800 <= c < 0xE000:
            out = _norm_char(chr(c))
            table[c] = ord(out) if len(out) == 1 else _DROP if not out else _MULTI
    return table


EMPTY_TEXT = "Text is empty or holds only white space or control characters; nothing to classify."


def check_shape(text: object, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Raise :class:`InputTextError` unless ``text`` is a string within ``max_chars``; return it."""
    if not isinstance(text, str):
        raise InputTextError(f"A complaint text must be a string; got {type(text).__name__}.")
    if len(text) > max_chars:
        raise TextTooLongError(
            f"Text is {len(text):,} characters; the limit is {max_chars:,}. Split it or raise the limit."
        )
    if not text.isascii() and _SURROGATE.search(text):
        raise InvalidTextError("Text holds lone surrogate code points (broken UTF-16); re-encode it as UTF-8.")
    return text


def check_text(text: object, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Return the normalised form of ``text`` if it can be classified, else raise :class:`InputTextError`."""
    result = check_texts([text], max_chars)[0]
    if isinstance(result, InputTextError):
        raise result
    return result


def check_texts(texts: Sequence[object], max_chars: int = MAX_TEXT_CHARS) -> list[str | InputTextError]:
    """:func:`check_text` over a batch: each text's normalised form, or the error that refuses it."""
    out: list[str | InputTextError] = []
    for t in texts:
        try:
            out.append(check_shape(t, max_chars))
        except InputTextError as e:
            out.append(e)
    good = [i for i, r in enumerate(out) if not isinstance(r, InputTextError)]
    for i, norm in zip(good, normalize_many([out[i] for i in good])):
        out[i] = norm if norm else InputTextError(EMPTY_TEXT)
    return out


# --- privacy -----------------------------------------------------------------------------------------------
_D = "[0-9\uff10-\uff19]"  # ASCII and full-width digits
_SEP = "[- \u2010-\u2015\uff0d]?"
_ID_CARD = re.compile(rf"(?<![0-9A-Za-z\uff10-\uff19])[1-9\uff11-\uff19]{_D}{{16}}[0-9Xx\uff10-\uff19\uff38\uff58](?![0-9A-Za-z\uff10-\uff19])")
_MOBILE = re.compile(rf"(?<!{_D})(?:[+\uff0b]?[8\uff18][6\uff16]{_SEP})?[1\uff11][3-9\uff13-\uff19]{_D}{_SEP}{_D}{{4}}{_SEP}{_D}{{4}}(?!{_D})")
_LANDLINE = re.compile(rf"(?<!{_D})(?P<area>[(\uff08]?[0\uff10]{_D}{{2,3}}[)\uff09]?){_SEP}(?P<num>{_D}{{7,8}})(?!{_D})")


def _mask_digits(match: re.Match, keep_head: int, keep_tail: int) -> str:
    """Replace the digits of a match with ``*``, one for one, except the first and last few."""
    s = match.group()
    digits = [i for i, c in enumerate(s) if c.isdigit() or c in "Xx\uff38\uff58"]
    hide = set(digits[keep_head : len(digits) - keep_tail])
    return "".join("*" if i in hide else c for i, c in enumerate(s))


def mask_pii(text: str) -> str:
    """Mask 18-digit ID-card numbers, mobiles (11 digits, optional +86) and landlines.

    Digits are replaced one for one, so the text keeps its length and offsets into it stay valid.
    Full-width digits and bracketed area codes are recognised too.

    >>> mask_pii("电话13812345678, 身份证110101199003071234")
    '电话138****5678, 身份证110101********1234'
    """
    text = _ID_CARD.sub(lambda m: _mask_digits(m, 6, 4), text)
    text = _MOBILE.sub(lambda m: _mask_digits(m, _count_digits(m.group()) - 8, 4), text)
    return _LANDLINE.sub(lambda m: _mask_digits(m, _count_digits(m.group("area")), 2), text)


def _count_digits(s: str) -> int:
    return sum(c.isdigit() for c in s)


# --- segmentation ------------------------------------------------------------------------------------------
#: Frequency given to dictionary words listed without one, so both engines see the same number.
DEFAULT_WORD_FREQ = 2000


def read_userdict(path: str | Path) -> list[tuple[str, int, str | None]]:
    """Read a jieba user dictionary (``word [freq] [tag]`` per line) into ``(word, freq, tag)`` tuples."""
    words = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8-sig").splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        freq = DEFAULT_WORD_FREQ
        tag = None
        if len(parts) > 1:
            if not parts[1].isdigit():
                raise ValueError(f"{path}:{n}: frequency must be a whole number, got {parts[1]!r}")
            freq = int(parts[1])
        if len(parts) > 2:
            tag = parts[2]
        words.append((parts[0], freq, tag))
    return words


@lru_cache(maxsize=1)
def _jieba_class() -> type:
    """rjieba's ``Jieba`` class, loaded from its compiled module without running the package's ``__init__``.

    Importing ``rjieba`` builds a module-level default instance (its whole dictionary: a tenth of a second and
    tens of MB) that triage never uses; a :class:`Segmenter` owns its own instance. When the package is already
    imported, or its layout is not the expected one, the class comes from a plain import.
    """
    if "rjieba" not in sys.modules:
        try:
            spec = importlib.util.find_spec("rjieba")
            location = next(iter(spec.submodule_search_locations or ()), None) if spec else None
            for path in sorted(Path(location).glob("rjieba*.so")) if location else ():
                loader = importlib.machinery.ExtensionFileLoader("rjieba.rjieba", str(path))
                module = importlib.util.module_from_spec(importlib.util.spec_from_loader("rjieba.rjieba", loader))
                loader.exec_module(module)
                return module.Jieba
        except (ImportError, OSError):
            pass
    import rjieba

    return rjieba.Jieba


class Segmenter:
    """jieba-compatible word segmenter on the fast rjieba engine, with a domain dictionary.

    The instance pickles as its word list and rebuilds the engine on load, so it can live inside a saved
    model: training and serving then segment alike.

    Parameters
    ----------
    words : iterable of (word, freq, tag)
        Extra dictionary entries, as from :func:`read_userdict`; words already in jieba's dictionary are
        left as they are.
    """

    def __init__(self, words: Iterable[tuple[str, int, str | None]] = ()) -> None:
        # Words jieba already knows keep their frequency: re-adding one makes jieba and rjieba count the
        # dictionary's total differently, and their tokens would then diverge.
        base = _jieba_class()()
        self.words = [(w, int(f), t) for w, f, t in words if not base.has_word(w)]
        self._build()

    @classmethod
    def from_words(cls, words: Iterable[tuple[str, int, str | None]]) -> Segmenter:
        """A segmenter with exactly these extra words (already checked against jieba's dictionary, as
        :attr:`words` of a saved model are)."""
        self = cls.__new__(cls)
        self.words = [(w, int(f), t) for w, f, t in words]
        self._build()
        return self

    def _build(self) -> None:
        self._engine = None  # built on first use: a batch or the service segments with the compiled segmenter
        self._lock = threading.Lock()

    @property
    def engine(self):
        """The rjieba engine with the extra words, built on first use (a tenth of a second)."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    engine = _jieba_class()()
                    for word, freq, tag in self.words:
                        engine.add_word(word, freq, tag)
                    self._engine = engine
        return self._engine

    def __getstate__(self) -> dict:
        return {"words": self.words}

    def __setstate__(self, state: dict) -> None:
        self.words = state["words"]
        self._build()

    def cut(self, text: str) -> list[str]:
        """Segment already-normalised text; white-space tokens are dropped."""
        tokens = self.engine.cut(text)
        if not text.isprintable():  # tabs, line breaks and other white space: drop every white-space token
            return list(filterfalse(str.isspace, tokens))
        try:  # the only white space is U+0020, one token each: removing them is cheaper than filtering
            for _ in range(text.count(" ")):
                tokens.remove(" ")
        except ValueError:  # the engine joined a space into a longer token: filter what is left
            return list(filterfalse(str.isspace, tokens))
        return tokens

    __call__ = cut

    def __repr__(self) -> str:
        return f"Segmenter({len(self.words)} dictionary words)"
