"""Subscriptions that load but can never alert, named before a desk waits in vain.

DESIGN.md's semantics make some valid files useless: an event is mentioned
only when a trigger stands in a sentence with a watched entity (that entity is
its participant), so with no entities configured anywhere no event is ever
mentioned, and a subscription listing events never alerts. These are notes,
not errors: every file is valid, and a desk may be adding its entities next.
"""

from __future__ import annotations

from service.config.models import Watchlists


def dead_ends(watchlists: Watchlists) -> list[str]:
    """One sentence per subscription that cannot match any article."""
    if watchlists.entities:
        return []
    return [f"subscription {s.id!r} can never alert: it lists events ({', '.join(s.events)}), "
            "an event is only mentioned in a sentence with a watched entity, "
            "and no entities are configured"
            for s in watchlists.subscriptions if s.events]
