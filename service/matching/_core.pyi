"""Types of the C module service/matching/_core.c (the classifier's per-article work)."""

from collections.abc import Callable, Sequence
from typing import Any

Range = tuple[int, int]
Quote = tuple[int, Range, tuple[Range, ...]]  # field number, trigger, mentions near it
Event = tuple[int, tuple[int, ...], tuple[Quote, ...]]  # event, participants, quotes

class Automaton:
    def __init__(self, keys: list[str], values: tuple[tuple[Any, int, int, bool], ...]) -> None: ...
    @property
    def nodes(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def keys(self) -> int: ...

class Rules:
    def __init__(
        self,
        separators: str,
        marks: str,
        letters: dict[str, str],
        abbreviations: frozenset[str],
        reference: Callable[[str], tuple[str, list[Range]]],
    ) -> None: ...

class Scan:
    @property
    def hits(self) -> dict[Any, list[Range]]: ...
    @property
    def words(self) -> int: ...
    @property
    def joined(self) -> str: ...
    def evidence(self, ranges: Sequence[Range], /) -> tuple[str, tuple[Range, ...]]: ...
    def per_sentence(self, ranges: Sequence[Range], /) -> list[tuple[str, tuple[Range, ...]]]: ...
    def span(self, word: int, /) -> Range: ...
    def sentence(self, word: int, /) -> Range: ...

class Roles:
    def __init__(
        self,
        entities: int,
        names: list[tuple[int, ...]],
        excludes: list[tuple[int, ...]],
        triggers: list[tuple[int, ...]],
        windows: tuple[int | None, ...],
    ) -> None: ...

def scan(rules: Rules, text: str, automaton: Automaton | None, /) -> Scan: ...
def find(automaton: Automaton, joined: str, /) -> dict[Any, list[Range]]: ...
def decide(
    roles: Roles, scans: tuple[Scan, ...], /
) -> tuple[tuple[dict[int, list[Range]], ...], list[Event]]: ...
