"""The officials' examples as near neighbours: TF-IDF over words and word pairs, cosine, an inverted index."""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence


def features(words: Sequence[str]) -> Counter[str]:
    """Words and adjacent pairs: "khai sinh" says more than "khai" and "sinh" apart."""
    found = Counter(words)
    found.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    return found


class Neighbours:
    """Cosine similarity (0–100) between a message and each example, weighted by how rare each word is among
    the examples and the knowledge base's own phrases: "lam", "giay", "xa" are in everything and decide nothing."""

    def __init__(self, examples: Sequence[Sequence[str]], background: Iterable[Sequence[str]] = ()) -> None:
        df: Counter[str] = Counter()
        docs = 0
        for words in itertools.chain(examples, background):
            df.update(set(features(words)))
            docs += 1
        self.idf = {t: math.log((docs + 1) / (n + 1)) + 1.0 for t, n in df.items()}
        self.unknown = math.log(docs + 1) + 1.0
        self.vectors = [self._vector(words) for words in examples]
        self.index: dict[str, list[int]] = {}
        for i, vector in enumerate(self.vectors):
            for t in vector:
                self.index.setdefault(t, []).append(i)

    def _vector(self, words: Sequence[str]) -> dict[str, float]:
        raw = {t: n * self.idf.get(t, self.unknown) for t, n in features(words).items()}
        norm = math.sqrt(sum(v * v for v in raw.values())) or 1.0
        return {t: v / norm for t, v in raw.items()}

    def nearest(self, words: Sequence[str], limit: int = 10) -> list[tuple[float, int, list[str]]]:
        """The closest examples: (similarity 0–100, index, the shared words that decided it), best first."""
        query = self._vector(words)
        scores: dict[int, float] = {}
        for t, v in query.items():
            for i in self.index.get(t, ()):
                scores[i] = scores.get(i, 0.0) + v * self.vectors[i][t]
        best = heapq.nlargest(limit, scores.items(), key=lambda kv: kv[1])
        return [
            (100.0 * s, i, sorted((t for t in query if t in self.vectors[i]), key=lambda t: -query[t])[:3])
            for i, s in best
        ]
