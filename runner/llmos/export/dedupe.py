"""Near-duplicate removal: MinHash signatures in a locality-sensitive hashing index (datasketch).

Two examples are near-duplicates when the Jaccard similarity of their sets of shingles is at least
the threshold (0.9 by default). Shingles are the 8-byte windows of the example's text (UTF-8, ASCII
letters in lower case), each hashed to 64 bits with the splitmix64 finaliser.

The signature is a MinHash of ``num_perm`` values computed by one-permutation hashing with
rotation densification (Shrivastava and Li, "Densifying One Permutation Hashing via Rotation for
Fast Near Neighbor Search", ICML 2014): the top bits of a shingle's hash pick one of ``num_perm``
bins and each bin keeps its smallest hash; an empty bin (texts with few shingles) takes the value
of the next non-empty bin plus a constant per bin skipped. Each value agrees between two texts with
probability close to their Jaccard similarity, like a classic MinHash, but it costs one hash per
shingle instead of ``num_perm`` (a 35 kB example: 0.2 ms instead of 4 ms).

The signatures go through a :class:`datasketch.MinHash` into a :class:`datasketch.MinHashLSH`
index, which returns the earlier examples that may be similar. The index is tuned to miss few
near-duplicates (``weights=(0.05, 0.95)``: 9 bands of 14 rows at 0.9, finding 90 % of the pairs at
exactly 0.9 and 99.8 % at 0.95), and each candidate counts only when the estimated Jaccard
similarity of the two signatures (the share of equal values) reaches the threshold. One signature
per example kept stays in memory (``8 * num_perm`` bytes), with the index's band hashes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NearDuplicateFilter", "signature"]

_WINDOW = 8
_LSH_WEIGHTS = (0.05, 0.95)  # (false positives, false negatives): candidates are verified anyway
_DENSIFY = 0x9E3779B97F4A7C15  # added per bin skipped when an empty bin borrows a neighbour's value


def signature(text: str, num_perm: int = 128) -> Any:
    """The one-permutation MinHash signature of ``text`` (a numpy ``uint64`` array of ``num_perm`` values).

    See the module docstring. ``num_perm`` must be a power of two.
    """
    import numpy as np

    data = text.encode("utf-8").lower()
    if len(data) < _WINDOW:
        data = data.ljust(_WINDOW, b"\0")
    # every 8-byte window, as 8 strided sets (offsets 0..7) of consecutive little-endian words
    z = np.concatenate(
        [np.frombuffer(data, dtype="<u8", count=(len(data) - k) // _WINDOW, offset=k) for k in range(_WINDOW)]
    )
    z = z * np.uint64(0x9E3779B97F4A7C15)  # splitmix64 finaliser (wrapping uint64 arithmetic)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    shift = np.uint64(64 - (num_perm.bit_length() - 1))
    empty = np.iinfo(np.uint64).max
    sig = np.full(num_perm, empty, dtype=np.uint64)
    np.minimum.at(sig, (z >> shift).view(np.int64), z)  # bin numbers are small: the view is exact
    missing = sig == empty
    if missing.any():
        filled = np.flatnonzero(~missing)
        index = np.arange(num_perm)
        nearest = filled[np.searchsorted(filled, index) % len(filled)]
        skipped = ((nearest - index) % num_perm).astype(np.uint64)
        sig = sig[nearest] + skipped * np.uint64(_DENSIFY)
    return sig


class NearDuplicateFilter:
    """Remembers the examples kept and tells whether a new one near-duplicates one of them.

    Args:
        threshold: The Jaccard similarity from which two examples are near-duplicates.
        num_perm: Signature length (a power of two; more: a finer estimate).

    Raises:
        ImportError: datasketch is not installed.
    """

    def __init__(self, threshold: float = 0.9, num_perm: int = 128) -> None:
        import numpy as np
        from datasketch import MinHash, MinHashLSH

        if num_perm & (num_perm - 1):
            raise ValueError(f"num_perm must be a power of two, got {num_perm}")
        self.threshold = threshold
        self.num_perm = num_perm
        self._np = np
        # one MinHash object carries each signature to the index (which keeps only band hashes)
        self._probe = MinHash(num_perm=num_perm, scheme="affine64")
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=_LSH_WEIGHTS)
        self._rows = np.empty((1024, num_perm), dtype=np.uint64)  # signature of the example in row i
        self._ids: list[str] = []
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def check(self, key: str, text: str) -> str | None:
        """Record the example ``key`` (its ``text``) unless it near-duplicates one recorded before.

        Returns:
            The key of the earlier example it duplicates (it is then not recorded), or ``None``.
        """
        return self.check_signature(key, signature(text, self.num_perm))

    def check_signature(self, key: str, values: Any) -> str | None:
        """:meth:`check` with the example's :func:`signature` computed already (e.g. by a worker process)."""
        np = self._np
        self._probe.hashvalues = values = np.asarray(values, dtype=np.uint64)
        rows = self._lsh.query(self._probe)
        if rows:
            candidates = np.fromiter(rows, dtype=np.intp, count=len(rows))
            agree = (self._rows[candidates] == values).sum(axis=1)
            best = int(agree.argmax())
            if agree[best] >= self.threshold * self.num_perm:
                return self._ids[candidates[best]]
        if key in self._index:  # the same example id twice (a trace file read twice)
            return key
        row = len(self._ids)
        if row == len(self._rows):
            self._rows = np.concatenate([self._rows, np.empty_like(self._rows)])
        self._rows[row] = values
        self._ids.append(key)
        self._index[key] = row
        self._lsh.insert(row, self._probe, check_duplication=False)
        return None
