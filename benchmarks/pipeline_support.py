"""What bench_pipeline needs besides the runs: feeds, CPU accounting, child processes.

CPU is read from /proc: the benchmark samples the CPU time of every process
it started (and their children: parse pool, Celery's pool) and of the
PostgreSQL server every 100 ms, so the CPU spent between the first entry
stored and the last alert sent can be read off afterwards, start-up excluded.
PostgreSQL's CPU is split by process title (``PgCpu``): the backends serving
the benchmark's database, the server's own processes (WAL writer,
checkpointer, background writer: work of every database, the benchmark's
writes mostly) and every other backend (other databases: tests and benchmarks
of other sessions on the machine); the first two are the benchmark's figure.
Backends that exit within the window are lost with their CPU.

What PostgreSQL's backends wait on is sampled too (``WaitSampler``): every
50 ms, each active backend of the benchmark's database and its wait event,
so the share of time spent waiting on locks (advisory locks, another
transaction's row) is printed beside the rates.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
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
_BACKEND = re.compile(r" \S+\(\d+\) | \[local\] ")  # a client's address in a backend's title


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


@dataclass(frozen=True, slots=True)
class PgCpu:
    """CPU seconds of postgres processes: the database's backends, the server's own
    processes (WAL writer, checkpointer, ...), other databases' backends."""

    database: float = 0.0
    server: float = 0.0
    other: float = 0.0

    def __sub__(self, other: PgCpu) -> PgCpu:
        return PgCpu(self.database - other.database, self.server - other.server,
                      self.other - other.other)

    def scaled(self, share: float, to: PgCpu) -> PgCpu:
        """The reading ``share`` of the way from this one to ``to``."""
        return PgCpu(*(a + share * (b - a) for a, b in zip(
            (self.database, self.server, self.other), (to.database, to.server, to.other),
            strict=True)))


def _title(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pg_kind(pid: int, database: str | None) -> str:
    """'database', 'server' or 'other', from the process title ("postgres: 15/main:
    USER DATABASE HOST(PORT) STATE" for a backend)."""
    title = _title(pid)
    if database is not None and f" {database} " in title:
        return "database"
    if _BACKEND.search(title) or "autovacuum worker" in title or "parallel worker" in title:
        return "other"
    return "server"  # the postmaster, checkpointer, walwriter, launchers


def cpu_now(roots: Sequence[int], database: str | None = None) -> tuple[dict[int, float], PgCpu]:
    """CPU seconds so far of each live root and its descendants, and of postgres
    (split by what each process serves: ``database``'s backends, the server, others)."""
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
    postgres = dict.fromkeys(("database", "server", "other"), 0.0)
    for pid, (_, command, own, _) in stats.items():
        if command == "postgres":
            postgres[_pg_kind(pid, database)] += own
    return ours, PgCpu(**postgres)


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
    database: str | None = None  # PostgreSQL: the benchmark's database
    every: float = 0.1
    # (t, CPU seconds of each root with its descendants, of postgres)
    samples: list[tuple[float, tuple[float, ...], PgCpu]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        last: dict[int, float] = {}  # a root that exited keeps its last reading
        while True:
            ours, pg = cpu_now(self.roots, self.database)
            last.update(ours)
            self.samples.append((time.time(), tuple(last.get(r, 0.0) for r in self.roots), pg))
            if self._stop.wait(self.every):
                return

    def per_root(self, start: datetime, end: datetime) -> tuple[list[float], PgCpu]:
        """CPU seconds of each root (with its children) and of postgres, ``start`` to ``end``."""
        a, b = self._at(start.timestamp()), self._at(end.timestamp())
        return [y - x for x, y in zip(a[0], b[0], strict=True)], b[1] - a[1]

    def timeline(self, start: datetime, end: datetime,
                 step: float = 0.2) -> list[tuple[float, list[float], float]]:
        """Cores in use per slice of ``step`` s from ``start`` to ``end``: (seconds
        since ``start``, cores of each root, cores of postgres: the database's
        backends and the server's own processes) for each slice."""
        t0, t1 = start.timestamp(), end.timestamp()
        slices = []
        at = t0
        while at < t1:
            upto = min(at + step, t1)
            a, b = self._at(at), self._at(upto)
            width = upto - at
            pg = b[1] - a[1]
            slices.append((at - t0, [(y - x) / width for x, y in zip(a[0], b[0], strict=True)],
                           (pg.database + pg.server) / width))
            at = upto
        return slices

    def _at(self, when: float) -> tuple[list[float], PgCpu]:
        times = [t for t, _, _ in self.samples]
        i = min(max(bisect_left(times, when), 1), len(times) - 1)
        (t0, a0, p0), (t1, a1, p1) = self.samples[i - 1], self.samples[i]
        share = 0.0 if t1 == t0 else min(max((when - t0) / (t1 - t0), 0.0), 1.0)
        return [x + share * (y - x) for x, y in zip(a0, a1, strict=True)], p0.scaled(share, p1)


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
