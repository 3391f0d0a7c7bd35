"""Near-duplicate stories: quality on real pairs, a real replay, and throughput.

    .venv/bin/python benchmarks/bench_dedup.py [--articles 100000] [--queries 5000]
        [--threshold 0.5] [--skip semeval,rumca,throughput]

1. SemEval 2022 task 8 (../shared/corpora/dedup/semeval2022_task8): pairs
   with Overall <= 1.5 are the same story, >= 3.5 different; a pair is
   predicted "same" when the two texts share an LSH band and their Jaccard
   or containment reaches the threshold. Precision, recall, F1 per language
   pair (target on monolingual pairs: F1 >= 0.90 with precision >= 0.95).
2. rumca replay (../shared/corpora/dedup/rumca_daily_rss_unlabelled): the
   four days in publication order through exact keys (canonical URL, GUID,
   text hash) then the near-duplicate index, as the pipeline does; prints
   entries, stories, the 10 largest stories with their outlets, throughput.
3. Throughput with N articles indexed (built from sentences of the real
   corpora): signature + query + insert per article, and memory per indexed
   article, side by side with plain datasketch defaults (MinHash with sha1,
   MinHashLSH threshold 0.9), as a ratio.

The in-memory index (service.stories.memory) runs the same pure steps as the
database index; numbers are per core (one process).
"""

from __future__ import annotations

import argparse
import csv
import gc
import html
import itertools
import json
import multiprocessing
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datasketch import MinHash, MinHashLSH  # noqa: E402

from service.dedup import ArticleIdentity, story_keys  # noqa: E402
from service.stories import article_segments, article_sketch, overlap  # noqa: E402
from service.stories.memory import MemoryIndex  # noqa: E402
from service.stories.shingles import tokens  # noqa: E402
from service.urls import canonical_url  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora" / "dedup"
SEMEVAL = CORPORA / "semeval2022_task8"
RUMCA = CORPORA / "rumca_daily_rss_unlabelled"
_TAG = re.compile(r"<[^>]+>")


def plain(text: str | None) -> str:
    return html.unescape(_TAG.sub(" ", text or ""))


# ---------------------------------------------------------------- SemEval


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, same: bool, predicted: bool) -> None:
        if same:
            self.tp, self.fn = self.tp + predicted, self.fn + (not predicted)
        else:
            self.fp, self.tn = self.fp + predicted, self.tn + (not predicted)

    def scores(self) -> tuple[float, float, float]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1


def semeval_pairs() -> Iterator[tuple[str, str, str, bool]]:
    csv.field_size_limit(1 << 30)
    for name in ("training_set.csv", "testing_set.csv"):
        with open(SEMEVAL / name, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                overall = float(row["Overall"])
                if 1.5 < overall < 3.5:
                    continue
                pair = f"{row['lang1']}-{row['lang2']}"
                yield pair, row["text1"], row["text2"], overall <= 1.5


def predicted_same(one: str, two: str, threshold: float) -> tuple[bool, float]:
    a = article_sketch(article_segments("", one))
    b = article_sketch(article_segments("", two))
    score = overlap(a.shingles, b.shingles).score
    return bool(set(a.bands) & set(b.bands)) and score >= threshold, score


def run_semeval(threshold: float) -> None:
    print(f"== SemEval 2022 task 8 (train + test): same <= 1.5, different >= 3.5; "
          f"threshold {threshold}")
    tallies: dict[str, Tally] = defaultdict(Tally)
    scores: list[tuple[bool, bool, float]] = []
    for pair, one, two, same in semeval_pairs():
        predicted, score = predicted_same(one, two, threshold)
        tallies[pair].add(same, predicted)
        mono = pair.split("-")[0] == pair.split("-")[1]
        scores.append((mono, same, score))
    print(f"{'pair':8} {'same':>5} {'diff':>5} {'P':>6} {'R':>6} {'F1':>6}")
    for group, mono in (("monolingual", True), ("cross-lingual", False)):
        total = Tally()
        for pair in sorted(p for p in tallies if (p.split("-")[0] == p.split("-")[1]) == mono):
            t = tallies[pair]
            _row(pair, t)
            for name in ("tp", "fp", "fn", "tn"):
                setattr(total, name, getattr(total, name) + getattr(t, name))
        _row(f"[{group}]", total)
    _sweep([(same, score) for mono, same, score in scores if mono])


def _row(label: str, t: Tally) -> None:
    p, r, f = t.scores()
    print(f"{label:8} {t.tp + t.fn:5} {t.fp + t.tn:5} {p:6.3f} {r:6.3f} {f:6.3f}")


def _sweep(scored: list[tuple[bool, float]]) -> None:
    """What the exact check alone could reach on monolingual pairs at other thresholds."""
    print("monolingual, exact check only, by threshold:  thr  P  R  F1")
    for threshold in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7):
        t = Tally()
        for same, score in scored:
            t.add(same, score >= threshold)
        p, r, f = t.scores()
        print(f"    {threshold:4.2f}  {p:.3f}  {r:.3f}  {f:.3f}")


# ---------------------------------------------------------------- rumca replay


@dataclass(frozen=True)
class Entry:
    source: str
    outlet: str
    title: str
    text: str
    link: str | None
    published: str


def rumca_entries() -> list[Entry]:
    entries: list[Entry] = []
    for path in sorted(RUMCA.glob("*.json")):
        for item in json.loads(path.read_text(encoding="utf-8")):
            entries.append(Entry(
                source=item["source"], outlet=item.get("album") or item["source"],
                title=plain(item.get("title")), text=plain(item.get("description")),
                link=item.get("link"), published=item.get("date_published") or "",
            ))
    return sorted(entries, key=lambda e: e.published)


def _canonical(link: str | None) -> str | None:
    try:
        return canonical_url(link) if link else None
    except ValueError:
        return None


def run_rumca(threshold: float) -> None:
    entries = rumca_entries()
    index = MemoryIndex(threshold=threshold)
    exact: dict[str, int] = {}
    story_of: list[int] = []
    started = time.perf_counter()
    for entry in entries:
        identity = ArticleIdentity(_canonical(entry.link), entry.link or "", entry.title,
                                   entry.text)
        keys = story_keys(identity)
        known = next((exact[k] for k in keys if k in exact), None)
        near = index.add(entry.source, entry.title, entry.text)
        story = known if known is not None else story_of[near] if near < len(story_of) else near
        story_of.append(story)
        for key in keys:
            exact.setdefault(key, story)
    elapsed = time.perf_counter() - started
    sizes = Counter(story_of)
    print(f"\n== rumca replay: {len(entries)} entries, {len(sizes)} stories, "
          f"{sum(1 for c in sizes.values() if c > 1)} with more than one article; "
          f"{len(entries) / elapsed:,.0f} entries/s (exact keys + near index, one core)")
    members: dict[int, list[Entry]] = defaultdict(list)
    for entry, story in zip(entries, story_of, strict=True):
        members[story].append(entry)
    _print_largest(members, sizes)


def _print_largest(members: dict[int, list[Entry]], sizes: Counter[int]) -> None:
    by_outlets = sorted(
        members, key=lambda s: (-len({e.outlet for e in members[s]}), -sizes[s], s)
    )
    print("the 10 stories carried by the most outlets:")
    for story in by_outlets[:10]:
        group = members[story]
        outlets = list(dict.fromkeys(e.outlet for e in group))
        print(f"  {len(group):3} articles, {len(outlets):2} outlets, "
              f"{group[0].published[:16]}: {group[0].title[:90]}")
        print(f"      outlets: {', '.join(outlets)[:300]}")
        titles = list(dict.fromkeys(e.title for e in group))[1:3]
        for title in titles:
            print(f"      also as: {title[:100]}")
    karabakh = [s for s in members if any("karaba" in e.title.lower() for e in members[s])]
    print("Karabakh stories of 19-20 September 2023 (more than one article):")
    for story in sorted(karabakh, key=lambda s: -sizes[s]):
        group = members[story]
        if sizes[story] > 1 and group[0].published.startswith("2023-09"):
            outlets = ", ".join(dict.fromkeys(e.outlet for e in group))
            print(f"  {sizes[story]:3} articles: {group[0].title[:80]}  [{outlets[:200]}]")


# ---------------------------------------------------------------- throughput


def word_distribution() -> tuple[list[str], list[int]]:
    """The words of the real corpora with their counts."""
    counts: Counter[str] = Counter()
    for _, one, two, _ in semeval_pairs():
        counts.update(one.split())
        counts.update(two.split())
    for entry in rumca_entries():
        counts.update(f"{entry.title} {entry.text}".split())
    words, weights = zip(*counts.items(), strict=True)
    return list(words), list(weights)


def synthetic_articles(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """(title, text) articles of 150-500 words drawn from the real word
    distribution (unrelated texts share only common phrases, by chance); 10%
    are near copies (last fifth dropped, a new dateline) of an earlier one."""
    rng = random.Random(seed)
    words, weights = word_distribution()
    cumulative = list(itertools.accumulate(weights))
    articles: list[tuple[str, str]] = []
    for i in range(count):
        if i > 10 and rng.random() < 0.1:
            title, text = articles[rng.randrange(len(articles))]
            cut = text[: int(len(text) * 0.8)]
            articles.append((title + " (update)", f"CITY{i} (Wire) — {cut}"))
            continue
        drawn = rng.choices(words, cum_weights=cumulative, k=rng.randint(150, 500))
        text = " ".join(" ".join(drawn[j : j + 15]) + "." for j in range(0, len(drawn), 15))
        articles.append((" ".join(rng.choices(words, cum_weights=cumulative, k=8)), text))
    return articles


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


@dataclass
class Engine:
    name: str
    add: Callable[[int, str, str], object]


def ours(threshold: float) -> Engine:
    index = MemoryIndex(threshold=threshold)
    return Engine("newswatch (xxhash, shared permutations, 42x3 bands, exact check)",
                  lambda i, title, text: index.add(f"feed{i % 100}", title, text))


def datasketch_defaults() -> Engine:
    lsh = MinHashLSH(num_perm=128)  # defaults: threshold 0.9

    def add(i: int, title: str, text: str) -> object:
        words = tokens(f"{title}\n{text}")
        shingles = {" ".join(words[j : j + 3]).encode() for j in range(max(1, len(words) - 2))}
        signature = MinHash(num_perm=128)  # sha1, fresh permutations each time
        signature.update_batch(list(shingles))
        found = lsh.query(signature)
        lsh.insert(i, signature)
        return found

    return Engine("plain datasketch defaults (sha1, MinHashLSH 0.9)", add)


def measure(engine: Engine, articles: list[tuple[str, str]], indexed: int) -> tuple[float, float]:
    """Articles/s of CPU time for the queries; RSS growth per indexed article."""
    gc.collect()
    before = rss_bytes()
    for i in range(indexed):
        engine.add(i, *articles[i])
    gc.collect()
    per_article = (rss_bytes() - before) / indexed
    started = time.process_time()
    for i in range(indexed, len(articles)):
        engine.add(i, *articles[i])
    rate = (len(articles) - indexed) / (time.process_time() - started)
    return rate, per_article


def _measure_in_child(
    make: Callable[[], Engine], articles: list[tuple[str, str]], indexed: int
) -> tuple[str, float, float]:
    """Each engine in a fresh forked process, so memory figures do not mix."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def child() -> None:
        engine = make()
        send.send((engine.name, *measure(engine, articles, indexed)))

    process = context.Process(target=child)
    process.start()
    result: tuple[str, float, float] = receive.recv()
    process.join()
    return result


def run_throughput(indexed: int, queries: int, threshold: float) -> None:
    articles = synthetic_articles(indexed + queries)
    mean_kb = sum(len(t) for _, t in articles) / len(articles) / 1000
    print(f"\n== throughput: {indexed:,} articles indexed (mean {mean_kb:.1f} KB, words of the "
          f"real corpora), then {queries:,} more: signature + query + insert, per CPU second")
    rates = []
    for make in (lambda: ours(threshold), datasketch_defaults):
        name, rate, per_article = _measure_in_child(make, articles, indexed)
        rates.append(rate)
        print(f"  {name}: {rate:,.0f} articles/s, {per_article / 1024:.1f} KiB "
              f"per indexed article (process RSS growth)")
    print(f"  ratio newswatch / datasketch defaults: {rates[0] / rates[1]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=5_000)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--skip", default="", help="comma-separated: semeval,rumca,throughput")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    if "semeval" not in skip:
        run_semeval(args.threshold)
    if "rumca" not in skip:
        run_rumca(args.threshold)
    if "throughput" not in skip:
        run_throughput(args.articles, args.queries, args.threshold)


if __name__ == "__main__":
    main()
