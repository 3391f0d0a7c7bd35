"""Dispatch helpers: batching ids into tasks, and what ``run --once`` keeps asking about."""

from __future__ import annotations

from service.dispatch import BATCH_SIZE, batches, settle


def test_ids_go_in_batches_of_at_most_the_batch_size_in_order() -> None:
    ids = list(range(1, 2 * BATCH_SIZE + 8))
    split = batches(ids)
    assert [len(b) for b in split] == [BATCH_SIZE, BATCH_SIZE, 7]
    assert [i for batch in split for i in batch] == ids
    assert batches([]) == []


def test_settled_ids_are_forgotten_and_waiting_ones_kept() -> None:
    tracked = {1, 2, 3, 4, 5}
    settle(tracked, checked=[1, 2, 3, 4, 5], waiting=[2, 5])
    assert tracked == {2, 5}
    settle(tracked, checked=[2, 5], waiting=[])
    assert tracked == set()


def test_ids_submitted_while_a_check_ran_are_kept_until_checked() -> None:
    tracked = {1, 2, 3}
    checked = sorted(tracked)
    tracked.update({7, 8})  # submitted again (or anew) while the database was asked
    settle(tracked, checked=checked, waiting=[3])
    assert tracked == {3, 7, 8}
