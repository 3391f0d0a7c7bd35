"""A whole field folded once for the automaton, with word offsets back to the original.

:func:`service.text.normalize.words` finds and normalises word by word, in
Python: ~100 µs for a 3 KB article, more than the automaton pass itself.
:class:`FoldedText` gives the same words (``joined`` is exactly ``" " + "
".join(words(text)) + " "``) with whole-string operations that run in C:

- The text is encoded as UTF-8. ASCII letters are lowercased and every other
  ASCII character made a space by one ``bytes.translate`` (``_`` too: it
  separates words), then runs of spaces are collapsed.
- The non-ASCII characters present are found at C speed (delete the ASCII
  bytes, decode what is left). When each is a known separator (curly quotes,
  dashes, no-break spaces, ``…``, ``€``: :data:`SEPARATORS`) or a letter of
  the Latin, Greek or Cyrillic blocks whose normalised form is a fixed string
  whatever its neighbours (:data:`FOLDED_LETTERS`), each is replaced in the
  bytes by a space or its normalised form; that covers English, French,
  Polish, Azerbaijani and Russian news. Anything else (combining marks, other
  scripts, symbols) takes the reference path, the word regex and
  :func:`normalize_word`, so nothing depends on the fast path being complete.

Offsets are only computed for the words that evidence quotes
(:meth:`FoldedText.span`): a *layout* of the text, bytes of the same length
with a space exactly at each separator, is built on first use, and word k,
which starts at offset ``at`` of ``joined``, starts at the layout's non-space
character number ``at - k - 1`` (``joined`` has k + 1 spaces before it),
found with a few ``bytes.count`` calls. That holds when every normalised
letter is one character; when one is not (ß → ss), offsets come from the
word regex.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from service.text.normalize import normalize_word, word_spans, words

Span = tuple[int, int]

# Non-ASCII characters that are neither letters, digits nor marks: separators, as ASCII punctuation.
SEPARATORS = frozenset(
    "\u2019\u2018\u201c\u201d\u201e\u201a\u2039\u203a\u00ab\u00bb"  # quotes
    "\u2013\u2014\u2011\u2010\u2012\u2015\u2212"  # dashes, minus
    "\u2026\u00b7\u2022\u2032\u2033\u00a3\u20ac\u00a9\u00ae\u2122\u00b0\u00a7"  # … · • £ € ©
    "\u00a0\u2002\u2003\u2009\u200a\u202f\u3000\u2028\u2029\u0085\u200b"  # spaces
    "\u3001\u3002\u300c\u300d\uff01\uff08\uff09\uff1f\uff0c"  # CJK punctuation
)
_LETTER_BLOCKS = ((0x00C0, 0x02B0), (0x0370, 0x0530), (0x1E00, 0x1F00))


def _folds_alone(char: str) -> bool:
    """Whether ``char`` normalises to letters that neither compose nor decompose further."""
    if not char.isalpha() or unicodedata.normalize("NFKC", char) != char:
        return False
    folded = normalize_word(char)
    return bool(folded) and folded.isalpha() and folded == normalize_word(folded)


FOLDED_LETTERS = {
    char: normalize_word(char)
    for block in _LETTER_BLOCKS
    for char in map(chr, range(*block))
    if _folds_alone(char)
}
"""Letters replaced, wherever they stand in a word, by their normalised form."""

_REPLACEMENTS = {
    **{char: (char.encode(), b" ") for char in SEPARATORS},
    **{char: (char.encode(), folded.encode()) for char, folded in FOLDED_LETTERS.items()},
}
_ONE_FOR_ONE = frozenset(char for char, folded in FOLDED_LETTERS.items() if len(folded) == 1)
_ONE_BYTE = SEPARATORS | _ONE_FOR_ONE  # what a per-text one-byte code can carry
_ASCII_CHARS = "".join(map(chr, range(128)))
_UNUSED = "".join(map(chr, range(0xE000, 0xE080)))  # private use: never in _ONE_BYTE
_ASCII = bytes(range(128))
# ASCII letters lowercased, digits kept, every other ASCII byte a space; bytes >= 0x80 kept.
_ASCII_FOLD = bytes(
    c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 or c >= 128 else 32
    for c in range(256)
)
# The layout of a text whose other characters were encoded as "?" and whose own "?" are spaces.
_LAYOUT = bytes(120 if chr(c).isalnum() or c == 63 else 32 for c in range(128)) + bytes(128)
_BINARY = bytes(32 if c == 32 else 120 for c in range(256))  # a layout's words as runs of "x"


def _joined(spaced: bytes) -> bytes:
    """The words of ``spaced`` separated by single spaces, with a space at both ends."""
    joined = _SPACES.sub(b" ", b" " + spaced + b" ")
    return joined if len(joined) > 1 else b"  "  # no words: as " " + "".join([]) + " "


_SPACES = re.compile(b"   *")  # two spaces first: re skips to them with a literal search


class FoldedText:
    """One text's normalised words joined by spaces, and their offsets in the text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._present: frozenset[str] | None = frozenset()  # non-ASCII characters; None: other
        self._layout: bytes | None = None
        self._non_spaces: _NonSpaces | None = None  # set on the first span asked for
        self._spans: list[Span] = []  # every word's offsets, when they cannot be found fast
        self._binary: bytes | None = None  # the layout, words as runs of "x", a space in front
        self.joined = self._fold(text)

    def _fold(self, text: str) -> str:
        if text.isascii():
            self._layout = text.encode("ascii").translate(_ASCII_FOLD)
            return _joined(self._layout).decode("ascii")
        encoded = text.encode("utf-8", "surrogatepass")
        present = frozenset(encoded.translate(None, _ASCII).decode("utf-8", "surrogatepass"))
        self._present = present
        if present <= SEPARATORS:  # as "?", each becomes a space like ASCII punctuation
            self._layout = text.encode("ascii", "replace").translate(_ASCII_FOLD)
            return _joined(self._layout).decode("ascii")
        if present <= _ONE_BYTE and len(present) <= 128:
            return self._fold_one_byte(text, tuple(present))
        if present <= _REPLACEMENTS.keys():
            for char in present:
                encoded = encoded.replace(*_REPLACEMENTS[char])
            return _joined(encoded.translate(_ASCII_FOLD)).decode("utf-8")
        self._present = None
        return " " + " ".join(words(text)) + " "  # marks or other scripts: the reference

    def _fold_one_byte(self, text: str, present: tuple[str, ...]) -> str:
        """Fold with a code of this text's own: ASCII, then one byte per other character.

        ``charmap`` codecs turn the text into one byte per character and back in
        C; in between one ``bytes.translate`` makes separators spaces.
        """
        code = codecs.charmap_build(_ASCII_CHARS + "".join(present) + _UNUSED[len(present) :])
        raw = codecs.charmap_encode(text, "strict", code)[0]
        kept = bytes(32 if char in SEPARATORS else 128 + i for i, char in enumerate(present))
        self._layout = raw.translate(_ASCII_FOLD[:128] + kept + bytes(128 - len(present)))
        folded = "".join(FOLDED_LETTERS.get(char, " ") for char in present)
        return codecs.charmap_decode(_joined(self._layout), "strict", _ASCII_CHARS + folded)[0]

    def _aligned_layout(self) -> bytes | None:
        """The text with a space exactly at each separator, or None if lengths differ."""
        present = self._present
        if self._layout is not None or present is None:
            return self._layout
        if not present <= SEPARATORS | _ONE_FOR_ONE:
            return None
        text = self.text.replace("?", " ")
        for char in present & SEPARATORS:
            text = text.replace(char, " ")
        return text.encode("ascii", "replace").translate(_LAYOUT)

    def words_before(self, offsets: Sequence[int]) -> list[int]:
        """For each of ``offsets`` (sorted, none inside a word): how many words start before it.

        In a layout with a space in front, a word starts at each ``b" x"`` once
        its non-spaces are made ``x``: a few ``bytes.count`` calls, no offsets.
        """
        layout = self._aligned_layout()
        if layout is None:
            self._spans = self._spans or word_spans(self.text)
            starts = [start for start, _ in self._spans]
            return [bisect_left(starts, offset) for offset in offsets]
        if self._binary is None:
            self._binary = b" " + layout.translate(_BINARY)
        padded = self._binary  # padded[p + 1] is layout[p]
        counts: list[int] = []
        count = previous = 0
        for offset in offsets:  # " x" at padded[p:p + 2]: a word starting at p
            count += padded.count(b" x", previous, offset + 1)
            counts.append(count)
            previous = offset
        return counts

    def span(self, word: int, at: int) -> Span:
        """The [start, end) offsets in the text of word number ``word``, at ``at`` in joined."""
        if self._non_spaces is None:
            layout = self._aligned_layout()
            if layout is None:  # offsets the slow way, once
                self._spans = self._spans or word_spans(self.text)
                return self._spans[word]
            self._non_spaces = _NonSpaces(layout)
        start = self._non_spaces.find(at - word - 1)
        return start, start + self.joined.index(" ", at) - at


class _NonSpaces:
    """Finds non-space byte number n of a layout, from the nearest one already found.

    Non-space number n is at the least x with x = n + (spaces in layout[:x + 1]);
    iterating from a known (n0, x0) below it reaches it in a few ``bytes.count``
    steps over the stretch between them (a sixth of news text is spaces).
    """

    def __init__(self, layout: bytes) -> None:
        self._layout = layout
        self._numbers = [-1]  # non-space numbers found, sorted, and their offsets
        self._offsets = [-1]

    def find(self, n: int) -> int:
        index = bisect_right(self._numbers, n) - 1
        n0, x0 = self._numbers[index], self._offsets[index]
        if n0 == n:
            return x0
        layout = self._layout
        x = x0 + n - n0
        spaces = layout.count(b" ", x0 + 1, x + 1)
        while x0 + n - n0 + spaces != x:
            previous, x = x, x0 + n - n0 + spaces
            spaces += layout.count(b" ", previous + 1, x + 1)
        self._numbers.insert(index + 1, n)
        self._offsets.insert(index + 1, x)
        return x
