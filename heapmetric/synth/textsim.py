"""Text normalisation, word shingles and MinHash signatures for near-duplicate and contamination checks."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

_WORD = re.compile(r"[0-9a-z]+")


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric words (punctuation and case do not make texts different)."""
    return _WORD.findall(text.lower())


def normalize(text: str) -> str:
    """The text as its words joined by one space: the key for exact-duplicate checks."""
    return " ".join(words(text))


def shingles(text: str, n: int = 3) -> set[str]:
    """Word n-grams of ``text`` (the whole text as one shingle when it has fewer than ``n`` words)."""
    w = words(text)
    if len(w) < n:
        return {" ".join(w)} if w else set()
    return {" ".join(w[i : i + n]) for i in range(len(w) - n + 1)}


def ngram_hashes(text: str, n: int) -> set[int]:
    """64-bit hashes of the word n-grams of ``text`` (empty if it has fewer than ``n`` words)."""
    w = words(text)
    return {
        int.from_bytes(hashlib.blake2b(" ".join(w[i : i + n]).encode(), digest_size=8).digest(), "big")
        for i in range(len(w) - n + 1)
    }


def jaccard(a: set[str], b: set[str]) -> float:
    """Exact Jaccard similarity of two sets (0 when both are empty)."""
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


class MinHasher:
    """MinHash signatures (datasketch) with a fixed seed, and an LSH index for Jaccard ≥ ``threshold``."""

    def __init__(self, threshold: float = 0.7, num_perm: int = 128, ngram: int = 3, seed: int = 1) -> None:
        from datasketch import MinHashLSH

        self.threshold, self.num_perm, self.ngram, self.seed = threshold, num_perm, ngram, seed
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.sets: dict[str, set[str]] = {}

    def minhash(self, text: str):  # -> datasketch.MinHash
        from datasketch import MinHash

        m = MinHash(num_perm=self.num_perm, seed=self.seed)
        m.update_batch([s.encode() for s in shingles(text, self.ngram)])
        return m

    def add(self, key: str, text: str) -> None:
        """Index ``text`` under ``key``."""
        self.sets[key] = shingles(text, self.ngram)
        self.lsh.insert(key, self.minhash(text))

    def near(self, text: str) -> list[tuple[str, float]]:
        """Indexed keys whose exact shingle Jaccard with ``text`` is ≥ threshold (LSH candidates, verified),
        most similar first."""
        mine = shingles(text, self.ngram)
        if not mine:
            return []
        hits = []
        for key in self.lsh.query(self.minhash(text)):
            sim = jaccard(mine, self.sets[key])
            if sim >= self.threshold:
                hits.append((key, sim))
        return sorted(hits, key=lambda kv: (-kv[1], kv[0]))

    def __len__(self) -> int:
        return len(self.sets)


def signatures(texts: Iterable[str], num_perm: int = 64, ngram: int = 3, seed: int = 1):  # -> np.ndarray
    """A (n, num_perm) array of MinHash signatures; the fraction of equal columns estimates Jaccard."""
    import numpy as np
    from datasketch import MinHash

    rows = []
    for text in texts:
        m = MinHash(num_perm=num_perm, seed=seed)
        m.update_batch([s.encode() for s in shingles(text, ngram)])
        rows.append(m.hashvalues.copy())
    return np.array(rows, dtype=np.uint64).reshape(len(rows), num_perm)
