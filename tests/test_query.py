"""Topic queries: luqum syntax compiled to our AST, evaluated on term occurrences."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import QuerySyntaxError
from service.matching.query import AndNode, NearNode, NotNode, OrNode, TermNode, parse_query
from service.matching.terms import Term, TermMatcher
from service.text.normalize import words


def hits_of(query_text: str, **fields: str) -> dict[str, dict[Term, list[tuple[int, int]]]]:
    matcher = TermMatcher(parse_query(query_text).terms())
    return {name: matcher.find(words(text)) for name, text in fields.items() if text}


def matches(query_text: str, **fields: str) -> bool:
    return parse_query(query_text).matches(hits_of(query_text, **fields))


def test_compiles_to_our_own_immutable_nodes() -> None:
    query = parse_query('(Baku OR Aliyev*) AND NOT "Grand Prix"')
    assert query.root == AndNode(
        (
            OrNode((TermNode(Term(("baku",))), TermNode(Term(("aliyev",), prefix=True)))),
            NotNode(TermNode(Term(("grand", "prix")))),
        )
    )
    assert query.terms() == {Term(("baku",)), Term(("aliyev",), True), Term(("grand", "prix"))}


def test_juxtaposed_terms_mean_and_with_the_lowest_precedence() -> None:
    assert parse_query("Ilham Aliyev").root == AndNode(
        (TermNode(Term(("ilham",))), TermNode(Term(("aliyev",))))
    )
    assert matches("a b OR c", content="a c")
    assert not matches("a b OR c", content="b c")


@pytest.mark.parametrize(
    ("query", "content", "expected"),
    [
        ("Baku AND Paris", "Baku and Paris talk", True),
        ("Baku AND Paris", "Baku talks", False),
        ("Baku OR Paris", "Paris talks", True),
        ("Baku AND NOT football", "Baku talks", True),
        ("Baku AND NOT football", "Baku football club", False),
        ("Baku -football", "Baku football club", False),
        ("+Baku -football", "Baku talks", True),
        ("NOT football", "", True),
        ("(Baku OR Paris) AND (talks OR summit)", "Paris summit", True),
        ('"Grand Prix"', "the Baku Grand Prix", True),
        ('"Grand Prix"', "a grand new prix", False),
        ("pardon*", "He was pardoned", True),
        ("pardon*", "a pardonnable act", True),
        ("pardon", "He was pardoned", False),
        ("France", "Frances said", False),
        ("France", "France's role", True),
        ("Théo", "THEO said", True),
        ("Азербайджан*", "Азербайджана и Франции", True),
        ("Fransa*", "Fransanın mövqeyi", True),
        ("Franco-Armenian", "the Franco Armenian diaspora", True),
        ('"Teo Klerk*"', "Teo Klerkin", True),
        ('"is it?"', "Is it? Yes", True),
    ],
)
def test_evaluation(query: str, content: str, expected: bool) -> None:
    assert matches(query, content=content) is expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Aliyev pardoned Clerc", True),
        ("Clerc was pardoned by Aliyev", True),  # any order
        ("Aliyev, after a long and quiet pause, pardoned him", False),
        ("Aliyev then later pardoned", True),  # two words between
        ("Aliyev met Macron. Much later, far from there, something got pardoned", False),
    ],
)
def test_proximity_allows_n_words_between_in_any_order(content: str, expected: bool) -> None:
    assert matches('"Aliyev pardon*"~2', content=content) is expected


def test_proximity_returns_its_occurrences_as_evidence() -> None:
    query = parse_query('"Aliyev pardon*"~2')
    assert query.root == NearNode((Term(("aliyev",)), Term(("pardon",), True)), 2)
    hits = hits_of('"Aliyev pardon*"~2', content="Aliyev pardoned Clerc")
    assert query.evaluate(hits) == [("content", 0, 1), ("content", 1, 2)]


def test_fields() -> None:
    assert matches("title:Baku", title="Baku news", content="Paris")
    assert not matches("title:Baku", title="Paris news", content="Baku")
    assert matches("summary:Baku", summary="In Baku", content="Paris")
    assert matches("text:Baku", title="x", content="In Baku")
    assert matches("text:Baku", title="x", summary="In Baku")  # no content: the summary
    assert not matches("text:Baku", title="x", summary="In Baku", content="Paris")
    assert not matches("text:Baku", title="Baku", content="Paris")
    assert matches("Baku", summary="In Baku")  # no field: any of them
    assert matches('title:(Baku OR "Grand Prix") AND Paris', title="Grand Prix", content="Paris")


def test_evaluate_returns_the_positive_occurrences_only() -> None:
    query = parse_query("Baku AND NOT football AND (Paris OR London)")
    hits = hits_of(query.text, title="Baku", content="Paris and Baku")
    assert query.evaluate(hits) == [("title", 0, 1), ("content", 2, 3), ("content", 0, 1)]


@pytest.mark.parametrize(
    ("query", "column", "message"),
    [
        ("Baku AND", 9, "unexpected end"),
        ("(Baku OR Paris", 15, "unexpected end"),
        ("Baku ) Paris", 6, "unexpected ')'"),
        ('Baku AND "Grand Prix', 10, "unterminated"),
        ("Baku AND [a TO b]", 10, "range"),
        ("Baku AND >3", 10, "range"),
        ("Baku AND /ba.u/", 10, "regex"),
        ("Baku AND Paris~", 10, "fuzzy"),
        ("Baku AND Paris~2", 10, "fuzzy"),
        ("Baku^2 OR Paris", 1, "boost"),
        ("Baku OR author:Smith", 9, "unknown field 'author'"),
        ("title:summary:Baku", 7, "inside field"),
        ("Ba?u", 1, "'?'"),
        ("Ba*u", 1, "'*' may only end"),
        ("Baku AND *", 10, "no letters or digits"),
        ('"pardon* Clerc"', 1, "'*' may only end"),
        ("Baku && Paris", 6, "AND, OR, NOT"),
        ("Baku and Paris", 6, "AND, OR, NOT"),
        ('"Baku Paris"~1.5', 13, "whole number"),
        ("   ", 1, "empty query"),
    ],
)
def test_errors_are_query_syntax_errors_with_a_column(
    query: str, column: int, message: str
) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert caught.value.column == column
    assert message in str(caught.value)


def test_proximity_of_one_word_is_that_word() -> None:
    assert parse_query('"Baku"~3').root == TermNode(Term(("baku",)))
    assert parse_query('"Baku – Paris"~3').root == NearNode((Term(("baku",)), Term(("paris",))), 3)


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_query_syntax_error(text: str) -> None:
    try:
        query = parse_query(text)
    except QuerySyntaxError as error:
        assert error.column is None or 1 <= error.column <= len(text) + 1
    else:
        assert query.text == text


@given(
    st.lists(
        st.sampled_from(["Baku", "AND", "OR", "NOT", "(", ")", '"', "-", "+", "~2", ":", "title"])
    )
)
def test_operator_soup_parses_or_raises_query_syntax_error(parts: list[str]) -> None:
    with contextlib.suppress(QuerySyntaxError):
        parse_query(" ".join(parts))


_WORDS = ["baku", "paris", "aliyev*", '"grand prix"', '"baku paris"~2', "title:macron"]
_TEXT_WORDS = ["Baku", "Paris", "Aliyevs", "Grand Prix", "Macron", "x"]


@st.composite
def queries(draw: st.DrawFn, depth: int = 2) -> str:
    """Random queries over a few words: AND, OR, NOT, groups, fields, phrases, proximity."""
    if depth == 0 or draw(st.booleans()):
        return draw(st.sampled_from(_WORDS))
    left, right = draw(queries(depth - 1)), draw(queries(depth - 1))
    shape = draw(st.sampled_from(["({} AND {})", "({} OR {})", "({} AND NOT {})", "NOT {}"]))
    return shape.format(left, right)


@given(
    queries(),
    st.lists(
        st.sampled_from(["Baku", "Paris", "Aliyevs", "Grand Prix", "Macron", "x"]), max_size=6
    ),
    st.booleans(),
)
def test_a_query_whose_requirements_are_unmet_is_false(
    query_text: str, chosen: list[str], in_title: bool
) -> None:
    text = " ".join(chosen)
    hits = hits_of(query_text, title=text if in_title else "", content=text)
    found = {term for field in hits.values() for term in field}
    query = parse_query(query_text)
    if any(need.isdisjoint(found) for need in query.required()):
        assert query.evaluate(hits) is None


def test_requirements_of_each_operator() -> None:
    baku, paris = Term(("baku",)), Term(("paris",))
    assert parse_query("Baku AND Paris").required() == (frozenset({baku}), frozenset({paris}))
    assert parse_query("Baku OR Paris").required() == (frozenset({baku, paris}),)
    assert parse_query("Baku AND NOT Paris").required() == (frozenset({baku}),)
    assert parse_query("NOT Paris").required() == ()
    assert parse_query("Baku OR NOT Paris").required() == ()
    assert parse_query('"Baku Paris"~3').required() == (frozenset({baku}), frozenset({paris}))
