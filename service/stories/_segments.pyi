"""Types of the C module service/stories/_segments.c (an article's segments)."""

from collections.abc import Callable
from typing import TypeVar

_Segment = TypeVar("_Segment", bound=tuple[list[str], int])

def split(
    normal: str, segment: type[_Segment], hash: Callable[[bytes], int], /
) -> list[_Segment]: ...
