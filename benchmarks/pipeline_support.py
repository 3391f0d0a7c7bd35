"""What bench_pipeline needs besides the runs: feeds, CPU accounting, child processes.

CPU is read from /proc: the benchmark samples the CPU time of every process
it started (and their children: parse pool, Celery's pool) and of the
PostgreSQL server every 100 ms, so the CPU spent between the first entry
stored and the last alert sent can be read off afterwards, start-up excluded.
PostgreSQL's figure counts every live postgres process on the machine (other
work included), so it is an upper bound, except for backends that exit within
the window (theirs is lost with them).

What PostgreSQL's backends wait on is sampled too (``WaitSampler``): every
50 ms, each active backend of the benchmark's database and its wait event,
so the share of time spent waiting on locks (advisory locks, another
transaction's row) is printed beside the rates.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Self

import psycopg

from tests.scenario import _rss_item

_TICK = os.sysconf("SC_CLK_TCK")


def feed_body(feed: int, items: int, vocabulary: list[str], alert_fraction: float,
              when: datetime, start: int = 0) -> bytes:
    """An RSS feed of ``items`` fresh items; ``alert_fraction`` of them name Macron."""
    rng = random.Random(feed * 1_000_003 + start)
    entries = []
    for item in range(start, start + items):
        words = " ".join(rng.sample(vocabulary, 300))
        who = "Macron" if rng.random() < alert_fraction else "Someone"
        entries.append(_rss_item(f"f{feed}-{item}", f"https://n{feed}.example/{item}",
                                 f"{who} item {feed}-{item}", f"{who} said: {words}.", when))
    return (f'<rss version="2.0"><channel><title>Feed {feed}</title>{"".join(entries)}'
            "</channel></rss>").encode()


def _stat(pid: str) -> tuple[int, str, float, float] | None:
    """(parent pid, command, own CPU seconds, those of its reaped children) of one process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    command = data[data.index("(") + 1 : data.rindex(")")]
    fields = data[data.rindex(")") + 2 :].split()
    own, reaped = (sum(int(f) for f in fields[i : i + 2]) / _TICK for i in (11, 13))
    return int(fields[1]), command, own, reaped


def cpu_now(roots: Sequence[int]) -> tuple[dict[int, float], float]:
    """CPU seconds so far of each live root and its descendants, and of all postgres."""
    stats = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(p))}
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    ours: dict[int, float] = {}
    for root in roots:
        todo = [root] if root in stats else []
        while todo:
            pid = todo.pop()
            # own time and that of children already reaped (a parse worker that exited)
            ours[root] = ours.get(root, 0.0) + stats[pid][2] + stats[pid][3]
            todo.extend(c for c in children.get(pid, ()) if c in stats)
    # own time only: the postmaster's reaped children are every backend that ever
    # exited (other sessions' included), which would jump into the window
    postgres = sum(own for _, command, own, _ in stats.values() if command == "postgres")
    return ours, postgres


class _Sampling:
    """A thread running ``_run`` from ``with`` until its end; ``_run`` returns when
    ``self._stop`` is set."""

    _stop: threading.Event
    _thread: threading.Thread | None

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        raise NotImplementedError


@dataclass
class CpuSampler(_Sampling):
    """Samples ``cpu_now`` every ``every`` seconds in a thread, until stopped."""

    roots: list[int]
    every: float = 0.1
    # (t, CPU seconds of each root with its descendants, of all postgres)
    samples: list[tuple[float, tuple[float, ...], float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        last: dict[int, float] = {}  # a root that exited keeps its last reading
        while True:
            ours, pg = cpu_now(self.roots)
            last.update(ours)
            self.samples.append((time.time(), tuple(last.get(r, 0.0) for r in self.roots), pg))
            if self._stop.wait(self.every):
                return

    def between(self, start: datetime, end: datetime) -> tuple[float, float]:
        """CPU seconds (ours, postgres) spent from ``start`` to ``end``."""
        roots, pg = self.per_root(start, end)
        return sum(roots), pg

    def per_root(self, start: datetime, end: datetime) -> tuple[list[float], float]:
        """CPU seconds of each root (with its children) and of postgres, ``start`` to ``end``."""
        a, b = self._at(start.timestamp()), self._at(end.timestamp())
        return [y - x for x, y in zip(a[0], b[0], strict=True)], b[1] - a[1]

    def timeline(self, start: datetime, end: datetime,
                 step: float = 0.2) -> list[tuple[float, list[float], float]]:
        """Cores in use per slice of ``step`` s from ``start`` to ``end``: (seconds
        since ``start``, cores of each root, cores of postgres) for each slice."""
        t0, t1 = start.timestamp(), end.timestamp()
        slices = []
        at = t0
        while at < t1:
            upto = min(at + step, t1)
            a, b = self._at(at), self._at(upto)
            width = upto - at
            slices.append((at - t0, [(y - x) / width for x, y in zip(a[0], b[0], strict=True)],
                           (b[1] - a[1]) / width))
            at = upto
        return slices

    def _at(self, when: float) -> tuple[list[float], float]:
        times = [t for t, _, _ in self.samples]
        i = min(max(bisect_left(times, when), 1), len(times) - 1)
        (t0, a0, p0), (t1, a1, p1) = self.samples[i - 1], self.samples[i]
        share = 0.0 if t1 == t0 else min(max((when - t0) / (t1 - t0), 0.0), 1.0)
        return [x + share * (y - x) for x, y in zip(a0, a1, strict=True)], p0 + share * (p1 - p0)


@dataclass
class WaitSampler(_Sampling):
    """Counts, every ``every`` seconds, the active backends of database ``name``
    by what they wait on (``Lock:advisory``, ``Lock:transactionid``, ``IO:...``,
    or ``running`` when they wait on nothing), until stopped."""

    admin_url: str
    name: str
    every: float = 0.05
    counts: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        query = ("SELECT coalesce(wait_event_type || ':' || wait_event, 'running') "
                 "FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                 "AND pid <> pg_backend_pid()")
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            while not self._stop.wait(self.every):
                self.counts.update(kind for (kind,) in connection.execute(query, (self.name,)))

    def summary(self) -> str:
        """'N active samples: x% Lock:advisory, ...' (the largest five)."""
        total = sum(self.counts.values())
        if not total:
            return "no active backend sampled"
        shares = ", ".join(f"{100 * n / total:.0f}% {kind}"
                           for kind, n in self.counts.most_common(5))
        return f"{total} active backend samples: {shares}"


def start(command: list[str], env: dict[str, str], cwd: str, log: str) -> subprocess.Popen[bytes]:
    """A child in a session of its own (so it and its children can be stopped together)."""
    with open(log, "ab") as out:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop(processes: Sequence[subprocess.Popen[bytes]], grace: float = 30.0) -> list[int]:
    """SIGTERM each child (as an orchestrator does: its main process only, which
    shuts down its own pool), wait up to ``grace`` s, then SIGKILL its whole
    process group; exit codes."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=max(deadline - time.monotonic(), 0.1)))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            codes.append(process.wait(timeout=10))
    for process in processes:  # the group may outlive its leader (pool children)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return codes


def utc_now() -> datetime:
    return datetime.now(UTC)
