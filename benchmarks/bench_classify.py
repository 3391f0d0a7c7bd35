"""Classification speed: one automaton for every watch term vs one regex per term.

    .venv/bin/python benchmarks/bench_classify.py [--articles 2000] [--repeat 3]

Articles of ~3 KB are cut from the real 2023 news entries in
../shared/corpora/topic_azerbaijan_france/. Watch terms (1,000 and 10,000)
are words and word pairs of that same text, so many of them match, as entity
names (two words), aliases (one word, a third of them with a trailing ``*``)
and event triggers; a few topic queries ride along. Printed per term count:

- the full classifier (normalise, one automaton pass with the word-boundary
  check, entities/events/topics and evidence), articles/s on one core;
- the automaton pass alone (the part MEASURED.md compares);
- the naive loop, one case-insensitive ``re.search(r"\\bterm\\b")`` per term
  on a small sample, extrapolated, and the ratio;
- the automaton's build time (the whole compile_watchlists) and its memory
  (resident set growth, and pyahocorasick's own count).

Targets (issue 4): >= 10,000 articles/s/core at 1,000 terms, >= 5,000 at 10,000.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from service.config.models import Watchlists
from service.domain import Document
from service.matching import compile_watchlists
from service.poller.parse import to_text
from service.text.normalize import words

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "topic_azerbaijan_france"
ARTICLE_CHARS = 3_000


def corpus_text() -> list[str]:
    """Titles and descriptions of the real entries, as plain text."""
    texts: list[str] = []
    for path in sorted(CORPUS.glob("rumca_rss_entries_2023_*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8")):
            texts.append(to_text(entry.get("title") or ""))
            texts.append(to_text(entry.get("description") or ""))
    return [t for t in texts if t]


def make_articles(texts: Sequence[str], count: int, rng: random.Random) -> list[Document]:
    """``count`` articles of ~3 KB: a title and consecutive corpus paragraphs."""
    articles = []
    for _ in range(count):
        start = rng.randrange(len(texts))
        body: list[str] = []
        index = start
        while sum(len(p) + 1 for p in body) < ARTICLE_CHARS:
            body.append(texts[index % len(texts)])
            index += 1
        articles.append(Document(texts[start][:120], "", "\n".join(body)[:ARTICLE_CHARS]))
    return articles


def make_watchlists(texts: Sequence[str], terms: int, rng: random.Random) -> Watchlists:
    """About ``terms`` distinct terms: entity names and aliases, triggers, topic words."""
    vocabulary = sorted({w for t in texts for w in t.split() if w.isalpha() and len(w) > 3})
    rng.shuffle(vocabulary)
    pairs = iter(zip(vocabulary[::2], vocabulary[1::2], strict=False))
    entity_count = terms * 2 // 5  # two terms each: a name and an alias
    entities = []
    for i in range(entity_count):
        first, last = next(pairs)
        alias = last + ("*" if i % 3 == 0 else "")
        entities.append({"id": f"e{i}", "name": f"{first} {last}", "aliases": [alias]})
    used = 2 * entity_count
    words_left = vocabulary[used:]
    triggers = words_left[: terms - used - 40]
    events = [
        {"id": f"ev{i}", "triggers": [w + "*" for w in triggers[i::20]]} for i in range(20)
    ]
    topic_words = words_left[len(triggers) : len(triggers) + 40]
    topics = [
        {"id": f"t{i}", "query": f"({topic_words[4 * i]} OR {topic_words[4 * i + 1]}) "
         f"AND NOT {topic_words[4 * i + 2]}"}
        for i in range(10)
    ]  # fmt: skip
    return Watchlists.model_validate({"entities": entities, "events": events, "topics": topics})


def watch_terms(watchlists: Watchlists) -> list[str]:
    found = [e.name for e in watchlists.entities]
    found += [a for e in watchlists.entities for a in e.aliases]
    found += [t for e in watchlists.events for t in e.triggers]
    return found


def rss_kib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4.0  # pages of 4 KiB


def rate(run: Callable[[], object], items: int, repeat: int) -> float:
    """Median items per CPU second of this process over ``repeat`` runs.

    CPU time, not wall time: it is the per-core figure, and it holds when
    other processes share the machine.
    """
    timings = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        timings.append(time.process_time() - start)
    return items / statistics.median(timings)


def naive_rate(terms: Sequence[str], articles: Sequence[Document], sample: int) -> float:
    """One compiled ``re.search`` per term (cached by ``re``), on ``sample`` articles."""
    patterns = [
        re.compile(r"\b" + re.escape(t.rstrip("*")) + ("" if t.endswith("*") else r"\b"), re.I)
        for t in terms
    ]
    chosen = articles[:sample]

    def run() -> None:
        for doc in chosen:
            text = f"{doc.title}\n{doc.content}"
            for pattern in patterns:
                pattern.search(text)

    return rate(run, len(chosen), 1)


def bench(terms: int, articles: list[Document], texts: list[str], repeat: int) -> None:
    rng = random.Random(terms)
    watchlists = make_watchlists(texts, terms, rng)
    gc.collect()
    before = rss_kib()
    start = time.process_time()
    classifier = compile_watchlists(watchlists)
    build = time.process_time() - start
    grown = rss_kib() - before
    stats = classifier.matcher._automaton.get_stats()
    full = rate(lambda: [classifier.classify(a) for a in articles], len(articles), repeat)
    streams = [words(f"{a.title}\n{a.content}") for a in articles]
    scan = rate(lambda: [classifier.matcher.find(s) for s in streams], len(articles), repeat)
    hits = sum(len(classifier.classify(a).matches) for a in articles[:200]) / 200
    sample = max(2, 20_000 // terms)
    naive = naive_rate(watch_terms(watchlists), articles, sample)
    print(f"\n{classifier.matcher.term_count:,} terms in the automaton "
          f"({len(watchlists.entities)} entities, {len(watchlists.events)} events, "
          f"{len(watchlists.topics)} topics); {hits:.1f} matches per article")
    print(f"  build (compile_watchlists): {build * 1000:.0f} ms; resident memory "
          f"+{grown / 1024:.1f} MiB; automaton nodes {stats['nodes_count']:,}, "
          f"{stats['total_size'] / 1024 / 1024:.1f} MiB")
    print(f"  classifier, everything:     {full:10,.0f} articles/s/core")
    print(f"  automaton pass alone:       {scan:10,.0f} articles/s/core (words already split)")
    print(f"  re.search per term:         {naive:10,.1f} articles/s/core "
          f"({sample} articles, extrapolated)")
    print(f"  ratio classifier / naive:   {full / naive:10,.0f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--terms", type=int, nargs="*", default=[1_000, 10_000])
    args = parser.parse_args()
    texts = corpus_text()
    articles = make_articles(texts, args.articles, random.Random(7))
    size = statistics.mean(len(a.title) + len(a.content) for a in articles)
    print(f"{len(articles)} articles of {size / 1024:.1f} KiB on average, from {CORPUS.name}")
    for terms in args.terms:
        bench(terms, articles, texts, args.repeat)


if __name__ == "__main__":
    main()
