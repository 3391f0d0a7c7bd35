"""Property tests of near-duplicate stories, on the in-memory index.

The database index runs the same pure steps (tests/test_stories_store.py
checks it on both backends); here hypothesis explores the texts.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from service.stories import article_segments, article_sketch, overlap, shingles
from service.stories.memory import MemoryIndex
from service.stories.shingles import tokens
from service.stories.signature import hashvalues, minhash
from tests.story_texts import (
    FOOTERS,
    HEADLINES,
    Story,
    datelines,
    partition,
    phrase,
    stories,
    words,
)

PROPERTY = settings(max_examples=60, deadline=None)


@PROPERTY
@given(
    story=stories(0), headline=phrase(4, 14, HEADLINES), dateline=datelines(),
    footers=st.tuples(phrase(5, 25, FOOTERS), phrase(5, 25, FOOTERS)), history=st.booleans(),
)
def test_copy_with_new_headline_dateline_footer_and_last_fifth_dropped_joins(
    story: Story, headline: str, dateline: str, footers: tuple[str, str], history: bool,
) -> None:
    index = MemoryIndex()
    if history:  # the copying outlet published before, with the same footer
        index.add("wire-b", "Earlier news", "Something else entirely happened.\n" + footers[1])
    first = index.add("outlet-a", story.title, story.text(footers[0]))
    copy = index.add("wire-b", headline, story.copy(headline, dateline, footers[1]))
    assert copy == first


@PROPERTY
@given(
    one=stories(0, 10, 40), two=stories(1, 10, 40), footer=phrase(30, 80, FOOTERS),
)
def test_different_stories_sharing_a_long_outlet_footer_stay_apart(
    one: Story, two: Story, footer: str
) -> None:
    index = MemoryIndex()
    first = index.add("outlet", one.title, one.text(footer))
    second = index.add("outlet", two.title, two.text(footer))
    assert first != second


RETITLED = ["{}", "{} (copy)", "UPDATE 1-{}", "UPDATE 2-{} Update"]


@PROPERTY
@given(
    story=stories(0), retitle=st.sampled_from(RETITLED),
    lead=st.one_of(st.just(""), phrase(8, 30, HEADLINES)),
    dateline=datelines(), footer=phrase(5, 40, FOOTERS), history=st.integers(0, 2),
    added=st.one_of(st.just(""), phrase(8, 30, HEADLINES)),
)
def test_same_outlet_repost_with_a_new_lead_and_a_changed_title_joins(
    story: Story, retitle: str, lead: str, dateline: str, footer: str, history: int,
    added: str,
) -> None:
    """The outlet publishes its entry again: new GUID and URL, a dateline on the
    first sentence, a new lead sentence, perhaps a paragraph more at the end,
    the title marked as a copy or an update."""
    index = MemoryIndex()
    for n in range(history):  # the outlet published before, with the same footer
        index.add("outlet", f"Earlier news {n}", f"Something else happened {n}.\n{footer}")
    first = index.add("outlet", story.title, story.text(footer))
    body = f"{dateline} — " + " ".join(filter(None, [lead, story.text()]))
    body += f"\n{added}" if added else ""
    assert index.add("outlet", retitle.format(story.title), f"{body}\n{footer}") == first


@PROPERTY
@given(
    one=stories(0, 10, 40), two=stories(1, 10, 40), footer=phrase(30, 80, FOOTERS),
    history=st.booleans(), inline=st.booleans(),
)
def test_different_stories_of_one_outlet_sharing_a_footer_stay_apart_after_a_repost(
    one: Story, two: Story, footer: str, history: bool, inline: bool,
) -> None:
    """A re-post kept whole must not carry the footer into the index: a later
    story of the outlet with only the footer in common (on a line of its own or
    at the end of the text's one line) stays apart."""
    def text(story: Story) -> str:
        return f"{story.text()} {footer}" if inline else story.text(footer)

    index = MemoryIndex()
    if history:
        index.add("outlet", "Earlier news", f"Something else happened.\n{footer}")
    first = index.add("outlet", one.title, text(one))
    index.add("outlet", f"UPDATE 1-{one.title}", f"PARIS (Wire) — {text(one)}")
    assert index.add("outlet", two.title, text(two)) != first


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[tuple[str, str, str]], list[int]]:
    """Articles (feed, title, text) of 2-4 stories with 1-3 copies, and their story."""
    count = draw(st.integers(2, 4))
    outlets = [f"outlet-{i}" for i in range(4)]
    footers = {o: draw(phrase(5, 25, FOOTERS)) for o in outlets}
    articles: list[tuple[str, str, str]] = []
    labels: list[int] = []
    for label in range(count):
        story = draw(stories(label))
        carriers = draw(st.lists(st.sampled_from(outlets), min_size=2, max_size=4, unique=True))
        articles.append((carriers[0], story.title, story.text(footers[carriers[0]])))
        for outlet in carriers[1:]:
            headline, dateline = draw(phrase(4, 14, HEADLINES)), draw(datelines())
            articles.append((outlet, headline, story.copy(headline, dateline, footers[outlet])))
        labels.extend([label] * len(carriers))
    order = draw(st.permutations(range(len(articles))))
    return [articles[i] for i in order], [labels[i] for i in order]


@PROPERTY
@given(arrivals())
def test_order_of_arrival_does_not_change_the_clusters(
    case: tuple[list[tuple[str, str, str]], list[int]],
) -> None:
    articles, labels = case
    index = MemoryIndex()
    stories_found = [index.add(*article) for article in articles]
    assert partition(stories_found) == partition(labels)


@PROPERTY
@given(text=words(1, 200, 0).map(" ".join))
def test_a_text_is_fully_contained_in_itself_with_any_casing(text: str) -> None:
    plain = article_sketch(article_segments("", text))
    shouted = article_sketch(article_segments("", text.upper() + " !"))
    assert overlap(plain.shingles, shouted.shingles).containment == 1.0
    assert plain.bands == shouted.bands


@PROPERTY
@given(text=words(1, 300, 0).map(" ".join))
def test_signature_is_datasketchs_minhash_of_the_shingles(text: str) -> None:
    found = shingles(text)
    assert np.array_equal(hashvalues(found), minhash(found).hashvalues)


def test_normalised_words_fold_case_accents_and_split_unspaced_scripts() -> None:
    assert tokens("THÉO Clerc, İlham; Алиёв 習近平") == [
        "theo", "clerc", "ilham", "алиев", "習", "近", "平"
    ]
