"""Text as the matcher sees it: normalised words with offsets, and sentence spans."""

from service.text.normalize import Token, normalize_term, normalize_word, tokenize, words
from service.text.sentences import Span, sentence_spans

__all__ = [
    "Span",
    "Token",
    "normalize_term",
    "normalize_word",
    "sentence_spans",
    "tokenize",
    "words",
]
