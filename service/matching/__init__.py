"""Matching articles against watchlists: terms, topic queries and the classifier."""

from service.matching.classifier import Classifier, Decision, compile_watchlists
from service.matching.query import Query, parse_query
from service.matching.terms import Term, TermMatcher

__all__ = [
    "Classifier",
    "Decision",
    "Query",
    "Term",
    "TermMatcher",
    "compile_watchlists",
    "parse_query",
]
