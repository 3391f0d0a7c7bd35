"""Near-duplicate stories: quality on real pairs, a real replay, and throughput.

    .venv/bin/python benchmarks/bench_dedup.py [--articles 100000] [--queries 5000]
        [--threshold 0.5] [--event-threshold 0.17] [--event-probability 0.70]
        [--skip semeval,rumca,throughput] [--embedding-cache FILE.npz]

1. SemEval 2022 task 8 (../shared/corpora/dedup/semeval2022_task8): pairs
   with Overall <= 1.5 are the same story, >= 3.5 different; a pair is
   predicted "same" when the two texts share an LSH band and their Jaccard
   or containment reaches the threshold, or (same event) by the lexical
   score or the model with embeddings. Each article's arrival time comes
   from its story id (``SEEN_IDS_PER_DAY``): days apart count on the
   same-event path. Pairs are compared however far apart they arrived (in
   the service a story stays in the window while articles join it). Precision, recall,
   F1 per language pair (target on monolingual pairs: F1 >= 0.90 with
   precision >= 0.95).
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
import hashlib
import html
import itertools
import json
import multiprocessing
import os
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from datasketch import MinHash, MinHashLSH  # noqa: E402

from service.dedup import ArticleIdentity, story_keys  # noqa: E402
from service.stories import (  # noqa: E402
    DEFAULT_EVENT_THRESHOLD,
    DEFAULT_THRESHOLD,
    Terms,
    article_parts,
    article_sketch,
    article_terms,
    embedding,
    overlap,
)
from service.stories.embedding import Embedding, embed  # noqa: E402
from service.stories.event_model import DEFAULT_EVENT_PROBABILITY, event_probability  # noqa: E402
from service.stories.events import (  # noqa: E402
    DAY,
    MIN_EMBEDDING_TEXT_COSINE,
    MIN_SHARED,
    MIN_TEXT_COSINE,
    candidate_hits,
    days_apart,
    event_score,
    text_cosine,
)
from service.stories.memory import MemoryIndex  # noqa: E402
from service.stories.shingles import tokens  # noqa: E402
from service.stories.signature import BANDS, ROWS, Sketch  # noqa: E402
from service.stories.substitution import names_substituted  # noqa: E402
from service.urls import canonical_url  # noqa: E402
from tests.conftest import SHARED  # noqa: E402  (NEWSWATCH_SHARED, ../shared, or the origin's)

CORPORA = SHARED / "corpora" / "dedup"
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


# The corpus gives no dates, but each article's id (pair_id "id1_id2") is its story id
# in the Media Cloud archive the organisers drew from, numbered in the order the
# archive collected them: the ids stand for the time an article was seen, as the
# service's own arrival time does. Ids per day: a Theil-Sen line through the 96
# articles whose text names a date of 2020 ("January 5, 2020", "5 January 2020";
# the latest date named), 914,000 ids a day, half of them within a day of the line.
SEEN_IDS_PER_DAY = 914_000
_ID = re.compile(r"\d+")


def seen_time(article_id: str) -> float:
    """An article's arrival (POSIX seconds, from an arbitrary origin) by its story id."""
    match = _ID.match(article_id)
    assert match is not None, article_id
    return int(match.group()) / SEEN_IDS_PER_DAY * DAY


@dataclass(frozen=True)
class Pair:
    languages: str
    one: str
    two: str
    same: bool
    seen: tuple[float, float]  # arrival times, POSIX seconds
    ids: tuple[str, str]  # the two articles' ids (an article may sit in several pairs)


def semeval_texts(name: str) -> list[str]:
    """The split's distinct texts, in order of first appearance."""
    return list(semeval_languages(name))


def semeval_languages(name: str) -> dict[str, str]:
    """The split's distinct texts (in order of first appearance) -> their language."""
    found: dict[str, str] = {}
    for pair in semeval_pairs(name):
        for text, language in zip((pair.one, pair.two), pair.languages.split("-"), strict=True):
            found.setdefault(text, language)
    return found


def semeval_pairs(name: str) -> Iterator[Pair]:
    """The labelled pairs of one split, undecided pairs left out."""
    csv.field_size_limit(1 << 30)
    with open(SEMEVAL / name, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            overall = float(row["Overall"])
            if 1.5 < overall < 3.5:
                continue
            first, second = row["pair_id"].split("_")
            yield Pair(f"{row['lang1']}-{row['lang2']}", repair(row["text1"]),
                       repair(row["text2"]), overall <= 1.5, (seen_time(first), seen_time(second)),
                       (first, second))


def repair(text: str) -> str:
    """Undo UTF-8 read as Latin-1 (mojibake), where that round trip is clean."""
    if "\u00c3" not in text and "\u00c2" not in text and "\u00d0" not in text:
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


@dataclass(frozen=True)
class Scored:
    pair: str
    same: bool
    copy: bool  # the near-copy path says same
    candidate: bool  # shares MIN_SHARED salient terms: the same-event path compares them
    band: bool  # not that, but shares an embedding band: compared when embeddings decide
    event: float  # the lexical same-event score, days apart counted (0 when no candidate)
    text: float  # the cosine of the TF-IDF text vectors
    embedding: float | None  # the cosine of the sentence embeddings (None: not computed)
    days: float  # days apart, counted up to event_model.DAYS_CAP
    ids: tuple[str, str] = ("", "")  # the articles' ids (folds keep an article on one side)


Embedder = Callable[[str, str], Embedding]  # (title, text) -> embedding


class RawEmbeddings:
    """The service's embedder (``embedding.embed``) over raw embeddings kept in a file:
    e5 costs ~200 ms of CPU per text, the two splits ~10 minutes; a second run (or the
    fit, benchmarks/fit_event_model.py) reads what ``embedding.raw_embedding`` gave
    the first. Centring, bands and the model are the service's, run each time."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.raw: dict[str, Embedding] = {}
        if path is not None and path.exists():
            with np.load(path) as stored:
                self.raw = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))

    def __call__(self, title: str, text: str) -> Embedding:
        return embedding.centred(self.raw_embedding(title, text))

    def raw_embedding(self, title: str, text: str) -> Embedding:
        key = hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()
        if key not in self.raw:
            self.raw[key] = embedding.raw_embedding(title, text)
        return self.raw[key]

    def save(self) -> None:
        if self.path is not None and self.raw:
            vectors = np.stack(list(self.raw.values()))
            np.savez(self.path, keys=np.array(list(self.raw)), vectors=vectors)


def score_split(name: str, embeddings: bool = False, embedder: Embedder = embed) -> list[Scored]:
    """Both paths on each pair; document frequencies from the split's texts, as the
    index of the window would hold them (``embedder``: the service's unless the fit
    gives its own, the same but from embeddings it already has)."""
    pairs = list(semeval_pairs(name))
    index = MemoryIndex()
    parsed: dict[str, tuple[Sketch, Terms, Embedding | None]] = {}
    for pair in pairs:
        for text in (pair.one, pair.two):
            if text not in parsed:
                title, body = title_and_text(text)
                parts, title_parts = article_parts(title, body)
                parsed[text] = (article_sketch(parts, title_parts=title_parts),
                                article_terms(parts, title_parts=title_parts),
                                embedder(title, body) if embeddings else None)
                index.count(parsed[text][1])
    scored = []
    for pair in pairs:
        (sketch_a, terms_a, embedding_a), (sketch_b, terms_b, embedding_b) = (
            parsed[pair.one], parsed[pair.two])
        # briefs from one template naming someone else: apart whatever the paths say
        one, two = pair.languages.split("-")
        apart = names_substituted(title_and_text(pair.one)[1], title_and_text(pair.two)[1],
                                  (one, two))
        copy = (bool(set(sketch_a.bands) & set(sketch_b.bands)) and not apart
                and overlap(sketch_a.shingles, sketch_b.shingles).score >= DEFAULT_THRESHOLD)
        a, b = index.vector(terms_a, embedding_a), index.vector(terms_b, embedding_b)
        assert a is not None and b is not None
        a, b = replace(a, seen=pair.seen[0]), replace(b, seen=pair.seen[1])
        candidate = len(set(a.salient) & set(b.salient)) >= MIN_SHARED and not apart
        band = (candidate_hits(a, b) >= MIN_SHARED and not candidate  # an embedding band alone
                and not apart)
        cosine = None
        if embedding_a is not None and embedding_b is not None:
            cosine = float(np.dot(embedding_a, embedding_b))
        scored.append(Scored(pair.languages, pair.same, copy, candidate, band,
                             event_score(a, b) if candidate else 0.0, text_cosine(a, b), cosine,
                             days_apart(a, b), pair.ids))
    return scored


def title_and_text(text: str) -> tuple[str, str]:
    """SemEval texts are the title, then the text (after a line break or two spaces)."""
    text = text.strip()
    cut = min((i for i in (text.find("\n"), text.find("  ")) if i > 0), default=-1)
    return (text[:cut], text[cut:]) if cut > 0 else ("", text)


def _monolingual(pair: str) -> bool:
    one, two = pair.split("-")
    return one == two


Decide = Callable[[Scored], bool]  # a candidate pair: the same event?


def lexical(threshold: float) -> Decide:
    return lambda s: s.candidate and s.event >= threshold and s.text >= MIN_TEXT_COSINE


def model(probability: float) -> Decide:
    return lambda s: (s.embedding is not None and (s.candidate or s.band)
                      and s.text >= MIN_EMBEDDING_TEXT_COSINE
                      and event_probability(s.embedding, s.text, s.days) >= probability)


def run_semeval(event_threshold: float, event_probability_: float, embeddings: bool,
                cache: Path | None = None) -> None:
    print("== SemEval 2022 task 8: same <= 1.5, different >= 3.5; copies (MinHash) or same "
          f"event (TF-IDF score >= {event_threshold})")
    embedder = RawEmbeddings(cache)
    train = score_split("training_set.csv", embeddings, embedder)
    embedder.save()
    print("training set, monolingual pairs, by event threshold (the only tuning):")
    print("    thr     P      R      F1   (copies only: "
          + "P {:.3f} R {:.3f} F1 {:.3f})".format(*_tally(train, None, mono=True).scores()))
    for threshold in sorted({0.1, 0.125, 0.15, 0.175, 0.2, 0.225, 0.25, 0.3, 0.35, 0.4,
                             event_threshold}):
        p, r, f = _tally(train, lexical(threshold), mono=True).scores()
        print(f"    {threshold:5.3f}  {p:.3f}  {r:.3f}  {f:.3f}")
    test = score_split("testing_set.csv", embeddings, embedder)
    embedder.save()
    print(f"testing set at {event_threshold} (copies only in brackets):")
    _table(test, lexical(event_threshold), None)
    if not embeddings:
        print("(sentence embeddings: not installed, pip install -e '.[embeddings]')")
        return
    print(f"\nwith sentence embeddings ({embedding.PACKAGE}), the fitted model "
          "(benchmarks/fit_event_model.py) by probability, training set (the fit's own pairs):")
    for probability in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95):
        p, r, f = _tally(train, model(probability), mono=True).scores()
        print(f"    {probability:5.3f}  {p:.3f}  {r:.3f}  {f:.3f}")
    print(f"testing set at probability {event_probability_} (lexical at {event_threshold} "
          "in brackets):")
    _table(test, model(event_probability_), lexical(event_threshold))


def _table(test: list[Scored], decide: Decide, other: Decide | None) -> None:
    print(f"{'pair':16} {'same':>5} {'diff':>5} {'P':>6} {'R':>6} {'F1':>6}   "
          f"{'[P':>6} {'R':>6} {'F1]':>6}")
    for group, mono in (("monolingual", True), ("cross-lingual", False)):
        for pair in sorted({s.pair for s in test if _monolingual(s.pair) == mono}):
            _row(pair, _tally(test, decide, pair=pair), _tally(test, other, pair=pair))
        _row(f"[{group}]", _tally(test, decide, mono=mono), _tally(test, other, mono=mono))


def _tally(scored: list[Scored], decide: Decide | None, *, mono: bool | None = None,
           pair: str | None = None) -> Tally:
    tally = Tally()
    for s in scored:
        if (mono is None or _monolingual(s.pair) == mono) and (pair is None or s.pair == pair):
            tally.add(s.same, s.copy or (decide is not None and decide(s)))
    return tally


def _row(label: str, t: Tally, copies: Tally) -> None:
    p, r, f = t.scores()
    cp, cr, cf = copies.scores()
    print(f"{label:16} {t.tp + t.fn:5} {t.fp + t.tn:5} {p:6.3f} {r:6.3f} {f:6.3f}   "
          f"{cp:6.3f} {cr:6.3f} {cf:6.3f}")


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


def _posix(published: str) -> float | None:
    """The entry's publication time as its arrival (the replay's clock), if given."""
    try:
        return datetime.fromisoformat(published).timestamp() if published else None
    except ValueError:
        return None


def run_rumca(threshold: float, event_threshold: float | None) -> None:
    entries = rumca_entries()
    index = MemoryIndex(threshold=threshold, event_threshold=event_threshold)
    exact: dict[str, int] = {}
    story_of: list[int] = []
    started, cpu = time.perf_counter(), time.process_time()
    for entry in entries:
        identity = ArticleIdentity(_canonical(entry.link), entry.link or "", entry.title,
                                   entry.text)
        keys = story_keys(identity)
        known = next((exact[k] for k in keys if k in exact), None)
        near = index.add(entry.source, entry.title, entry.text, _posix(entry.published))
        story = known if known is not None else story_of[near] if near < len(story_of) else near
        story_of.append(story)
        for key in keys:
            exact.setdefault(key, story)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    sizes = Counter(story_of)
    print(f"\n== rumca replay: {len(entries)} entries, {len(sizes)} stories, "
          f"{sum(1 for c in sizes.values() if c > 1)} with more than one article; "
          f"{len(entries) / cpu:,.0f} entries per CPU second, {len(entries) / elapsed:,.0f}/s "
          f"wall (exact keys, near copies, same event; one core; load {os.getloadavg()[0]:.1f})")
    members: dict[int, list[Entry]] = defaultdict(list)
    for entry, story in zip(entries, story_of, strict=True):
        members[story].append(entry)
    _print_largest(members, sizes)


def _print_largest(members: dict[int, list[Entry]], sizes: Counter[int]) -> None:
    largest = sorted(members, key=lambda s: (-sizes[s], -len({e.outlet for e in members[s]}), s))
    print("the 10 largest stories:")
    for story in largest[:10]:
        group = members[story]
        outlets = list(dict.fromkeys(e.outlet for e in group))
        print(f"  {len(group):3} articles, {len(outlets):2} outlets, "
              f"{group[0].published[:16]}: {group[0].title[:90]}")
        print(f"      outlets: {', '.join(outlets)[:300]}")
        for other in list(dict.fromkeys(e.title for e in group))[1:3]:
            print(f"      also as: {other[:100]}")
    karabakh = [s for s in members if any("karaba" in e.title.lower() for e in members[s])]
    print("stories with 'Karabakh' in a title, 19-20 September 2023 (more than one article):")
    for story in sorted(karabakh, key=lambda s: -sizes[s]):
        group = members[story]
        if sizes[story] > 1 and group[0].published.startswith("2023-09"):
            carriers = ", ".join(dict.fromkeys(e.outlet for e in group))
            print(f"  {sizes[story]:3} articles: {group[0].title[:80]}  [{carriers[:200]}]")


# ---------------------------------------------------------------- throughput


def word_distribution() -> tuple[list[str], list[int]]:
    """The words of the real corpora with their counts."""
    counts: Counter[str] = Counter()
    for pair in itertools.chain(semeval_pairs("training_set.csv"),
                                semeval_pairs("testing_set.csv")):
        counts.update(pair.one.split())
        counts.update(pair.two.split())
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


def ours(threshold: float, event_threshold: float | None, embeddings: bool = False) -> Engine:
    index = MemoryIndex(threshold=threshold, event_threshold=event_threshold,
                        embeddings=embeddings)
    path = "near copies + same event" if event_threshold is not None else "near copies"
    path += " with sentence embeddings" if embeddings else ""
    return Engine(f"newswatch, {path} (segments and sketch in C, shared permutations, "
                  f"{BANDS}x{ROWS} bands, exact check)",
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
    engine.add(-1, "Warm-up", "The encoder, if any, loads here.")
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


EMBEDDED_INDEXED, EMBEDDED_QUERIES = 500, 100  # the encoder: ~200 ms of CPU per article


def run_throughput(
    indexed: int, queries: int, threshold: float, event_threshold: float | None
) -> None:
    articles = synthetic_articles(indexed + queries)
    mean_kb = sum(len(t) for _, t in articles) / len(articles) / 1000
    print(f"\n== throughput: {indexed:,} articles indexed (mean {mean_kb:.1f} KB, words of the "
          f"real corpora), then {queries:,} more: signature + query + insert, per CPU second")
    rates = []
    for make in (lambda: ours(threshold, None), lambda: ours(threshold, event_threshold),
                 datasketch_defaults):
        name, rate, per_article = _measure_in_child(make, articles, indexed)
        rates.append(rate)
        print(f"  {name}: {rate:,.0f} articles/s, {per_article / 1024:.1f} KiB "
              f"per indexed article (process RSS growth)")
    print(f"  ratio newswatch (near copies) / datasketch defaults: {rates[0] / rates[2]:.2f}x; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if event_threshold is None or not embedding.available():
        return
    indexed, queries = min(indexed, EMBEDDED_INDEXED), min(queries, EMBEDDED_QUERIES)
    name, rate, per_article = _measure_in_child(
        lambda: ours(threshold, event_threshold, embeddings=True),
        articles[: indexed + queries], indexed)
    print(f"  {name} ({indexed:,} indexed, {queries:,} more; the encoder's start-up left out): "
          f"{rate:,.0f} articles/s, {per_article / 1024:.1f} KiB per indexed article; "
          f"load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=5_000)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--event-threshold", type=float, default=DEFAULT_EVENT_THRESHOLD)
    parser.add_argument("--event-probability", type=float, default=DEFAULT_EVENT_PROBABILITY)
    parser.add_argument("--skip", default="", help="comma-separated: semeval,rumca,throughput")
    parser.add_argument("--embedding-cache", type=Path, default=None,
                        help="an .npz file keeping the raw embeddings between runs")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    if "semeval" not in skip:
        run_semeval(args.event_threshold, args.event_probability, embedding.available(),
                    args.embedding_cache)
    if "rumca" not in skip:
        run_rumca(args.threshold, args.event_threshold)
    if "throughput" not in skip:
        run_throughput(args.articles, args.queries, args.threshold, args.event_threshold)


if __name__ == "__main__":
    main()
