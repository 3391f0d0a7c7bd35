"""Band keys of sentence embeddings: candidates for the same-event path by meaning.

The keys must be the same in every process (workers share one index), close
embeddings must share a band and unrelated ones rarely; an indexed article
sharing a band but fewer than two salient terms is compared, on both the
in-memory and the database index.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import select

from service.config.models import DedupSettings
from service.storage import Database, event_index
from service.storage.models import StoryRow, StoryTermRow
from service.stories.embedding import embed
from service.stories.embedding_keys import BANDS, embedding_keys
from service.stories.events import DOCUMENTS, EventRule, EventVector, Weighted, same_event
from service.stories.memory import MemoryIndex
from tests.test_stories_embeddings import OFFENSIVE, SAME_OFFENSIVE, _background
from tests.test_stories_store import NOW, _story


def _unit(vector: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def test_keys_are_fixed_values_whatever_the_process() -> None:
    keys = embedding_keys(_unit(np.cos(np.arange(512, dtype=np.float64))))
    # pinned: a worker computing other keys would never find the others' articles
    assert keys.tolist()[:4] == [-5370141022840790973, -3515269310113625930,
                                 1197018362235455010, -3098461294469213164]
    assert len(set(keys.tolist())) == BANDS and DOCUMENTS not in keys.tolist()


def test_close_embeddings_share_a_band_and_unrelated_ones_rarely() -> None:
    rng = np.random.default_rng(3)
    shared_close = shared_unrelated = 0
    for _ in range(200):
        one = _unit(rng.standard_normal(384))
        close = _unit(one + 0.5 * _unit(rng.standard_normal(384)))  # cosine ~0.9
        other = _unit(rng.standard_normal(384))  # cosine ~0
        keys = set(embedding_keys(one).tolist())
        shared_close += bool(keys & set(embedding_keys(close).tolist()))
        shared_unrelated += bool(keys & set(embedding_keys(other).tolist()))
    assert shared_close >= 195
    assert shared_unrelated <= 25  # 1 - (1 - 2^-8)^16 = 6% expected


def _vector(terms: list[int], embedding: npt.NDArray[np.float32]) -> EventVector:
    weights = np.full(len(terms), 1 / np.sqrt(len(terms)))
    text = Weighted(np.array(sorted(terms), dtype=np.int64), weights)
    return EventVector(text, text, embedding)


def test_an_article_sharing_a_band_but_one_salient_term_is_a_candidate() -> None:
    index = MemoryIndex(event_threshold=0.2, embeddings=True)
    one, same = embed(*OFFENSIVE), embed(*SAME_OFFENSIVE)
    assert set(embedding_keys(one).tolist()) & set(embedding_keys(same).tolist())
    index.add("feed", *OFFENSIVE)  # article 0, its own story
    index.vectors[0] = _vector([11, 12, 13], one)
    for key in (11, *index.vectors[0].bands):
        index._postings[key] = [0]
    found = index.event_candidates(_vector([11, 21, 22], same))
    assert [c.article_id for c in found] == [0]
    assert index.event_candidates(_vector([11, 21, 22], -same)) == []  # one term alone: not


@pytest.mark.timeout(600)  # 51 articles through e5 (~200 ms of CPU each) on a loaded machine
def test_the_database_counts_a_shared_band_as_enough_salient_terms(database: Database) -> None:
    settings = DedupSettings(same_event=True, event_embeddings=True)
    _background(database, settings)
    first = _story(database, "outlet", "a1", *OFFENSIVE, settings=settings)
    bands = sorted(embedding_keys(embed(*OFFENSIVE)).tolist())
    same = sorted(embedding_keys(embed(*SAME_OFFENSIVE)).tolist())
    with database.session() as session:
        article = session.scalar(select(StoryRow.first_article_id)
                                 .where(StoryRow.id == first.story_id))
        posted = set(session.scalars(select(StoryTermRow.term)
                                     .where(StoryTermRow.article_id == article)))
        assert set(bands) <= posted
        salient = sorted(posted - set(bands))[:1]  # one salient term alone is not enough
        params = {"since": NOW - timedelta(days=7), "own": -1}

        def candidates(keys: list[int]) -> list[int]:
            values = {**params, "terms": salient + keys, "bands": keys}
            rows = session.execute(event_index._EVENT_CANDIDATES, values)
            return [article for article, _, _ in rows]

        assert candidates(same) == [article]
        assert candidates([]) == []


def test_embeddings_of_another_encoder_are_judged_by_the_lexical_score() -> None:
    text = Weighted(np.array([1, 2], dtype=np.int64), np.array([0.6, 0.8]))
    other = Weighted(np.array([2, 3], dtype=np.int64), np.array([0.6, 0.8]))  # cosine 0.48
    rule = EventRule(threshold=0.4, probability=0.99)
    e5 = _unit(np.ones(384))
    unlike = _unit(np.resize([1.0, -1.0], 384))  # cosine 0 with e5: the model says no
    use = _unit(np.ones(512))  # stored before the encoder changed
    assert same_event(EventVector(text, text, e5), EventVector(other, other, unlike),
                      rule) is None
    lexical = same_event(EventVector(text, text, e5), EventVector(other, other, use), rule)
    assert lexical == pytest.approx(0.48)
