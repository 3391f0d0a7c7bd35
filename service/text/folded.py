"""The tables that fold a whole field at once, character by character, for the automaton.

:func:`service.text.normalize.words` finds and normalises word by word, in
Python: ~100 µs for a 3 KB article, more than the automaton pass itself. The
classifier's C pass (``scan`` in :mod:`service.matching._core`) gives the
same words (its ``joined`` is exactly ``" " + " ".join(words(text)) + " "``)
and their offsets in one loop over the text, with these tables:

- ASCII letters are lowercased, digits kept, every other ASCII character
  separates words (``_`` too).
- A non-ASCII character is a separator when it is one of :data:`SEPARATORS`
  (curly quotes, dashes, no-break spaces, ``…``, ``€``), or when the word
  pattern of :mod:`service.text.normalize` never takes it into a word: not a
  letter or digit (``str.isalnum``), nor a combining mark right after a
  letter. A letter of the Latin, Greek or Cyrillic blocks whose normalised
  form is a fixed string whatever its neighbours (:data:`FOLDED_LETTERS`) is
  replaced by that form; that covers English, French, Polish, Azerbaijani and
  Russian news. Anything else (a mark inside a word, other scripts) sends the
  whole text to the reference, the word regex and :func:`normalize_word`, so
  nothing depends on the tables being complete.

Word offsets are kept as the loop goes: the offsets of word k are those of
the run of letters it was folded from.
"""

from __future__ import annotations

import unicodedata

from service.text.normalize import normalize_word

# Non-ASCII characters that are neither letters, digits nor marks: separators, as ASCII punctuation.
SEPARATORS = frozenset(
    "\u2019\u2018\u201c\u201d\u201e\u201a\u2039\u203a\u00ab\u00bb"  # quotes
    "\u2013\u2014\u2011\u2010\u2012\u2015\u2212"  # dashes, minus
    "\u2026\u00b7\u2022\u2032\u2033\u00a3\u20ac\u00a9\u00ae\u2122\u00b0\u00a7"  # … · • £ € ©
    "\u00a0\u2002\u2003\u2009\u200a\u202f\u3000\u2028\u2029\u0085\u200b"  # spaces
    "\u3001\u3002\u300c\u300d\uff01\uff08\uff09\uff1f\uff0c"  # CJK punctuation
)
_LETTER_BLOCKS = ((0x00C0, 0x0300), (0x0370, 0x0530), (0x1E00, 0x1F00))


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
