"""Templated briefs: two texts alike but for a name are two stories.

Outlets publish short items from one template: "President Ilham Aliyev
received the credentials of the Ambassador of Italy", then "... of France";
"help with Thursday's Quordle words", then "... NYT Connections ...". Their shingles
overlap far above the near-copy threshold, so without this check the second
joined the first one's story and never alerted. A syndicated copy differs
from its original otherwise: a dateline at the start, paragraphs dropped and
a footer added at the end, a word changed here and there, a name added or
spelled another way ("Aliyev", "Aliev"). So: two short texts are different
stories when, aligned word by word, a short run in the middle of the one
stands where a short run of the other stands, and each run holds a name (a
capitalised word that does not begin a sentence) that the other text does
not carry, in no similar spelling, initial or initials.

Scripts without letter case (and those written without spaces) never show a
name this way, and German capitalises every noun ("Zentralbank" /
"Notenbank" is a word changed, not a name): for them the near-copy decision
is the shingles' alone, as before. Long texts are left to the shingles too:
a long copy with one name changed is more often an edit ("told Reuters",
"told AFP") than a template.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from itertools import islice

from service.stories.shingles import HAS_UNSPACED, SPACED_WORD, normalise

SHORT_TEXT_WORDS = 250  # the shorter text at most this long: a brief
MAX_RUN_WORDS = 4  # a substituted name is a short run ("Italy", "Luca Rossi")
MIN_ANCHOR_WORDS = 2  # the same words on both sides of it, so the alignment holds
SIMILAR_SPELLING = 0.75  # difflib ratio: "aliyev" / "aliev" is one name
NOUNS_CAPITALISED = frozenset({"de", "lb"})  # ISO 639-1: capitals do not mark names
_SENTENCE_END = frozenset(".!?…:;\n")
_OPENING = frozenset("\"'“”‘’«»„([{-–— \t\r")


class Words:
    """A text's words, folded; which of them are names; which follow the word
    before with nothing but spaces between (one name: "Callisto Protocol")."""

    __slots__ = ("folded", "names", "spaced", "vocabulary")

    def __init__(self, text: str) -> None:
        self.folded: list[str] = []
        self.names: list[bool] = []
        self.spaced: list[bool] = []
        end = 0
        for match in SPACED_WORD.finditer(text):
            word = match.group()
            self.spaced.append(bool(self.folded) and not text[end : match.start()].strip())
            self.folded.append(normalise(word))
            self.names.append(word[0].isupper() and not _starts_sentence(text, match.start()))
            end = match.end()
        self.vocabulary = set(self.folded)

    def in_longer_name(self, start: int, stop: int) -> bool:
        """Whether the run [start, stop) touches a name beside it, spaces between."""
        before = start > 0 and self.names[start - 1] and self.spaced[start]
        after = stop < len(self.folded) and self.names[stop] and self.spaced[stop]
        return before or after


def _starts_sentence(text: str, start: int) -> bool:
    """Whether the word at ``start`` opens the text or a sentence (its capital says
    nothing then)."""
    at = start - 1
    while at >= 0 and text[at] in _OPENING:
        at -= 1
    return at < 0 or text[at] in _SENTENCE_END


def is_short(text: str) -> bool:
    """Whether ``text`` may be a brief this check looks at (cheap: no folding)."""
    words = islice(SPACED_WORD.finditer(text), SHORT_TEXT_WORDS + 1)  # stops past the limit
    return bool(text) and sum(1 for _ in words) <= SHORT_TEXT_WORDS


def names_substituted(
    one: str, other: str, languages: tuple[str | None, str | None] = (None, None)
) -> bool:
    """Whether two texts, alike enough to be copies by their shingles, are two
    briefs from one template that name different people, places or things
    (``languages``: theirs as detected, None when unknown)."""
    if not NOUNS_CAPITALISED.isdisjoint(languages):
        return False
    return substitution(one, other) is not None


def substitution(one: str, other: str) -> tuple[list[str], list[str]] | None:
    """The first run of ``one`` whose names ``other`` replaces by others, with
    that run of ``other`` (see ``names_substituted``); None when there is none.

    Not a substitution: a run that is part of a longer name matching beside it
    ("Callisto Protocol" / "Callisto Project", "Magdalena Cielecka" /
    "Magdalena C."), a name spelled alike, cut to its initial or written as
    the initials of the other run ("Prawo i Sprawiedliwość" / "PiS")."""
    if not (is_short(one) or is_short(other)) or HAS_UNSPACED.search(one + other):
        return None
    a, b = Words(one), Words(other)
    blocks = SequenceMatcher(None, a.folded, b.folded, autojunk=False).get_opcodes()
    for index in range(1, len(blocks) - 1):
        tag, i1, i2, j1, j2 = blocks[index]
        if tag != "replace" or max(i2 - i1, j2 - j1) > MAX_RUN_WORDS:
            continue
        before, after = blocks[index - 1], blocks[index + 1]
        if min(before[2] - before[1], after[2] - after[1]) < MIN_ANCHOR_WORDS:
            continue
        if a.in_longer_name(i1, i2) or b.in_longer_name(j1, j2):
            continue
        # a name the other text also carries elsewhere is not replaced, and one letter
        # ("X", "D. C.") is an initial or a symbol rather than a name
        mine = {w for i in range(i1, i2) if a.names[i] and len(w := a.folded[i]) > 1}
        theirs = {w for j in range(j1, j2) if b.names[j] and len(w := b.folded[j]) > 1}
        mine, theirs = mine - b.vocabulary, theirs - a.vocabulary
        if not (mine and theirs) or _acronym(mine, b.folded[j1:j2]) or _acronym(
                theirs, a.folded[i1:i2]):
            continue
        if not (all(any(_alike(n, o) for o in theirs) for n in mine)
                and all(any(_alike(n, o) for o in mine) for n in theirs)):
            return a.folded[i1:i2], b.folded[j1:j2]
    return None


def _acronym(names: set[str], other_run: list[str]) -> bool:
    """Whether a name is the initials of words of the other run ("pis" in "posłów
    Prawa i Sprawiedliwości")."""
    initials = "".join(word[0] for word in other_run)
    return any(len(name) > 1 and name in initials for name in names)


def _alike(name: str, other: str) -> bool:
    if other.startswith(name) or name.startswith(other):  # an initial, a short form
        return True
    return SequenceMatcher(None, name, other).ratio() >= SIMILAR_SPELLING
