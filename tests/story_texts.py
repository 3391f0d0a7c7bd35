"""Synthetic stories and their syndicated copies, for the story tests.

Words come from a fixed pseudo-vocabulary cut into disjoint parts: each
story draws distinct words from a part of its own, so two different stories
share no three-word sequence even after hypothesis shrinks them, as two real
different stories do; what they share is what the tests put there on
purpose: an outlet's footer (drawn from the footer part).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import strategies as st

_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
VOCABULARY = sorted(
    {"".join(random.Random(i).choices(_SYLLABLES, k=3)) for i in range(6000)}
)


def sentences(word_list: list[str], size: int = 12) -> str:
    """Words cut into capitalised sentences of ``size`` words."""
    chunks = [word_list[i : i + size] for i in range(0, len(word_list), size)]
    return " ".join(" ".join(c).capitalize() + "." for c in chunks)


@dataclass(frozen=True)
class Story:
    title: str
    body: list[str]  # words

    def text(self, footer: str = "") -> str:
        return sentences(self.body) + (f"\n{footer}" if footer else "")

    def copy(self, headline: str, dateline: str, footer: str, keep: float = 0.8) -> str:
        """A syndicated copy: new headline is separate; dateline, first ``keep``, footer."""
        kept = self.body[: max(1, int(len(self.body) * keep))]
        return f"{dateline} — {sentences(kept)}\n{footer}"


PARTS = 10
FOOTERS, HEADLINES = PARTS - 1, PARTS - 2  # parts 0.. are stories' own


def words(min_size: int, max_size: int, part: int) -> st.SearchStrategy[list[str]]:
    """Distinct words of one part of the vocabulary."""
    return st.lists(
        st.sampled_from(VOCABULARY[part::PARTS]), min_size=min_size, max_size=max_size,
        unique=True,
    )


def phrase(min_size: int, max_size: int, part: int) -> st.SearchStrategy[str]:
    return words(min_size, max_size, part).map(lambda w: sentences(w, 40))


def stories(part: int, min_words: int = 80, max_words: int = 300) -> st.SearchStrategy[Story]:
    return st.builds(Story, title=phrase(4, 12, part), body=words(min_words, max_words, part))


def datelines() -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(VOCABULARY[HEADLINES::PARTS]), st.integers(1, 28)).map(
        lambda t: f"{t[0].upper()}, Sept {t[1]} (Wire)"
    )


# One set of stories the storage tests share: a long story, another, a short
# one, an outlet's footer and a wire service's footer, all of distinct words.
STORY = Story(title=sentences(VOCABULARY[0:8]), body=VOCABULARY[10:160])
OTHER = Story(title=sentences(VOCABULARY[200:206]), body=VOCABULARY[210:235])
SHORT = Story(title=sentences(VOCABULARY[300:306]), body=VOCABULARY[310:330])
FOOTER = sentences(VOCABULARY[400:460])
WIRE_FOOTER = sentences(VOCABULARY[500:520])


def partition(assigned: list[int]) -> set[frozenset[int]]:
    """The positions of ``assigned`` grouped by their value: a clustering compared
    as a set of groups, whatever the cluster ids are."""
    groups: dict[int, set[int]] = {}
    for position, group in enumerate(assigned):
        groups.setdefault(group, set()).add(position)
    return {frozenset(g) for g in groups.values()}
