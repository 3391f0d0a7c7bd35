"""Word normalisation and tokenisation: the one place that decides what a word is.

Matching compares normalised words, so a watch term and a text only need to
agree here: NFKC, casefold, accents stripped (Théo = Theo = THÉO),
dotted İ and dotless ı both folded to i, Cyrillic ё to е (й is kept: it is a
letter of its own), soft hyphens and zero-width joiners inside a word dropped
(``Ali&shy;yev`` in a feed is Aliyev). A word is a run of Unicode letters and digits together
with the combining marks that belong to them; everything else (spaces,
punctuation, apostrophes, hyphens, dashes) separates words. In scripts
written without spaces (Han, Kana, Thai, Lao, Khmer, Myanmar) each letter
with its marks is a word, so terms match inside runs. Tokens keep their
offsets in the original text so evidence can mark the words as written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

_MARK_CATEGORIES = frozenset({"Mn", "Mc", "Me"})
# Letters whose decomposition must survive mark stripping (composed again after NFD).
_KEEP_COMPOSED = {"и\u0306": "й"}
# Marks that are accents (dropped); vowel signs of Indic and other scripts are kept.
_ACCENTS_RE = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u064b-\u065f\u0670"
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
)
# Invisible characters that stand inside words without splitting them: the soft hyphen
# (news sites put ``&shy;`` in long words, "Ali&shy;yev"), zero-width (non-)joiners
# (Persian, Indic scripts) and the word joiner. A word keeps them; its folded form drops them.
INVISIBLE_JOINERS = "\u00ad\u200c\u200d\u2060"
_FOLD = str.maketrans(
    {"ı": "i", "İ": "i", "ё": "е", "Ё": "е", **dict.fromkeys(INVISIBLE_JOINERS)}
)


MARKS = "".join(sorted(
    [char for char in map(chr, range(0x300, 0x10000))
     if unicodedata.category(char) in _MARK_CATEGORIES] + list(INVISIBLE_JOINERS)
))  # fmt: skip
"""Every combining mark of the BMP, and the invisible joiners: what joins the letters
before it into one word."""


def _mark_ranges() -> str:
    """A regex character class body of every combining mark in the BMP."""
    ranges: list[str] = []
    start = previous = -2
    for code in map(ord, MARKS):
        if code != previous + 1:
            if start >= 0:
                ranges.append(f"\\u{start:04x}-\\u{previous:04x}")
            start = code
        previous = code
    if start >= 0:
        ranges.append(f"\\u{start:04x}-\\u{previous:04x}")
    return "".join(ranges)


# Scripts written without spaces between words: Han, Hiragana, Katakana, Thai, Lao,
# Myanmar, Khmer. Hangul is written with spaces and is not among them.
UNSPACED_BLOCKS = (
    (0x0E00, 0x0F00),  # Thai, Lao
    (0x1000, 0x10A0),  # Myanmar
    (0x1780, 0x1800),  # Khmer
    (0x19E0, 0x1A00),  # Khmer symbols
    (0x3005, 0x3008),  # 々 〆 〇
    (0x3040, 0x3100),  # Hiragana, Katakana
    (0x31F0, 0x3200),  # Katakana extensions
    (0x3400, 0x4DC0),  # CJK extension A
    (0x4E00, 0xA000),  # CJK unified ideographs
    (0xA9E0, 0xAA80),  # Myanmar extensions
    (0xF900, 0xFB00),  # CJK compatibility ideographs
    (0xFF66, 0xFFA0),  # halfwidth Katakana
    (0x20000, 0x30000),  # CJK extensions B and later
)


def _class_body(codes: Iterable[int]) -> str:
    """A regex character class body matching exactly the code points of ``codes`` (sorted)."""
    ranges: list[str] = []
    start = previous = -2
    for code in codes:
        if code != previous + 1:
            if start >= 0:
                ranges.append(f"\\U{start:08x}-\\U{previous:08x}")
            start = code
        previous = code
    if start >= 0:
        ranges.append(f"\\U{start:08x}-\\U{previous:08x}")
    return "".join(ranges)


_MARKS = _mark_ranges()
_UNSPACED = _class_body(
    code for low, high in UNSPACED_BLOCKS for code in range(low, high) if chr(code).isalnum()
)
# In unspaced scripts each letter, with the marks that follow it, is a word of its own, so a
# term matches inside a run of them; elsewhere a word is letters/digits, then any marks
# (vowel signs, viramas, accents) and the letters after them.
_OTHER = rf"[^\W_{_UNSPACED}]"
_WORD_RE = re.compile(rf"[{_UNSPACED}][{_MARKS}]*|{_OTHER}+(?:[{_MARKS}]{_OTHER}*)*")


@dataclass(frozen=True, slots=True)
class Token:
    """One word: its normalised form and its [start, end) offsets in the original text."""

    norm: str
    start: int
    end: int


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    for pair, letter in _KEEP_COMPOSED.items():
        decomposed = decomposed.replace(pair, letter)
    return unicodedata.normalize("NFC", _ACCENTS_RE.sub("", decomposed))


@lru_cache(maxsize=65536)
def normalize_word(word: str) -> str:
    """The comparable form of one word (or any text): folded, unaccented, no spaces.

    >>> normalize_word("THÉO"), normalize_word("İlham"), normalize_word("Алиёв")
    ('theo', 'ilham', 'алиев')
    """
    folded = unicodedata.normalize("NFKC", word).translate(_FOLD).casefold()
    return "".join(_strip_marks(folded).translate(_FOLD).split())


def tokenize(text: str) -> list[Token]:
    """Every word of ``text`` with its normalised form and original offsets."""
    return [Token(normalize_word(m.group()), *m.span()) for m in _WORD_RE.finditer(text)]


def words(text: str) -> list[str]:
    """The normalised words of ``text``, in order (the norms of :func:`tokenize`, faster)."""
    return list(map(normalize_word, _WORD_RE.findall(text)))


def words_and_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """:func:`words` and :func:`word_spans` of ``text`` in one pass."""
    found = list(_WORD_RE.finditer(text))
    return [normalize_word(m.group()) for m in found], [m.span() for m in found]


def word_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) offsets of the words of ``text``, aligned with :func:`words`."""
    return [m.span() for m in _WORD_RE.finditer(text)]


def normalize_term(term: str) -> tuple[tuple[str, ...], bool]:
    """A watch term as normalised words, and whether the last word is a prefix.

    A trailing ``*`` makes the last word a prefix: ``"Teo Klerk*"`` gives
    ``(("teo", "klerk"), True)``. A ``*`` anywhere else, or a term without a
    single letter or digit, raises ``ValueError``.
    """
    stripped = term.strip()
    prefix = stripped.endswith("*")
    body = stripped[:-1] if prefix else stripped
    if "*" in body:
        raise ValueError(f"'*' may only end a term: {term!r}")
    found = tuple(words(body))
    if not found:
        raise ValueError(f"term has no letters or digits: {term!r}")
    if prefix and not _WORD_RE.fullmatch(body[-1:] or " "):
        raise ValueError(f"'*' must follow a letter or digit: {term!r}")
    return found, prefix


def count_words(text: str, at_most: int | None = None) -> int:
    """``len(words(text))``, counting no further than ``at_most`` (a threshold test
    then reads only the start of a long text)."""
    if at_most is None:
        return len(_WORD_RE.findall(text))
    return sum(1 for _ in islice(_WORD_RE.finditer(text), max(at_most, 0)))
