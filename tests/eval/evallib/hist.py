"""Latency histograms of as-loadgen, merged in Python.

as-loadgen writes each histogram as {"sub_bucket_bits": b, "counts":
[[index, count], ...]} in HdrHistogram's layout with a unit of 1 us
(tests/eval/EVAL-CONTRACT clarification; see docs/evaluation.md): with
S = 2^b and H = S/2, index i < S holds the values [i, i+1), and index
i >= S holds [m << k, (m+1) << k) with k = (i - S) // H + 1 and
m = H + (i - S) % H. Histograms of several clients or runs merge by adding
counts per index; a percentile is the upper bound of the bucket holding
it ("the value at or below which q of the samples lie").
"""


class Histogram:
    def __init__(self, sub_bucket_bits, counts=None):
        if not isinstance(sub_bucket_bits, int) or not 1 <= sub_bucket_bits <= 20:
            raise ValueError("sub_bucket_bits must be 1..20, got %r" % (sub_bucket_bits,))
        self.bits = sub_bucket_bits
        self.counts = {}
        self.exact = None  # (min, max, sum) when every input had them
        for idx, n in counts or ():
            self.add_index(idx, n)

    @classmethod
    def from_json(cls, obj):
        if not isinstance(obj, dict) or "sub_bucket_bits" not in obj or "counts" not in obj:
            raise ValueError("not a histogram: %r" % (obj,))
        h = cls(obj["sub_bucket_bits"], obj["counts"])
        if all(isinstance(obj.get(k), int) for k in ("min", "max", "sum")):
            h.exact = (obj["min"], obj["max"], obj["sum"])
        return h

    def to_json(self):
        o = {"sub_bucket_bits": self.bits,
             "counts": [[i, self.counts[i]] for i in sorted(self.counts)]}
        if self.exact is not None:
            o["min"], o["max"], o["sum"] = self.exact
        return o

    def add_index(self, idx, n):
        if not isinstance(idx, int) or idx < 0 or not isinstance(n, int) or n < 0:
            raise ValueError("bad histogram entry [%r, %r]" % (idx, n))
        if n:
            self.counts[idx] = self.counts.get(idx, 0) + n

    def bounds(self, idx):
        """[lower, upper) in us of bucket idx."""
        s = 1 << self.bits
        if idx < s:
            return idx, idx + 1
        h = s >> 1
        k = (idx - s) // h + 1
        m = h + (idx - s) % h
        return m << k, (m + 1) << k

    def index_of(self, value):
        """The bucket holding value (us, >= 0): the inverse of bounds()."""
        value = int(value)
        s = 1 << self.bits
        if value < s:
            return max(value, 0)
        h = s >> 1
        k = value.bit_length() - self.bits  # value >> k is in [H, S)
        return s + (k - 1) * h + ((value >> k) - h)

    def record(self, value, n=1):
        v = int(value)
        if n:
            if not self.counts:
                self.exact = (v, v, v * n)
            elif self.exact is not None:
                a = self.exact
                self.exact = (min(a[0], v), max(a[1], v), a[2] + v * n)
        self.add_index(self.index_of(v), n)

    def merge(self, other):
        if other.bits != self.bits:
            raise ValueError("cannot merge histograms of %d and %d sub-bucket bits"
                             % (self.bits, other.bits))
        mine, theirs = bool(self.counts), bool(other.counts)
        for i, n in other.counts.items():
            self.add_index(i, n)
        if not theirs:
            pass
        elif not mine:
            self.exact = other.exact
        elif self.exact is None or other.exact is None:
            self.exact = None
        else:
            a, b = self.exact, other.exact
            self.exact = (min(a[0], b[0]), max(a[1], b[1]), a[2] + b[2])
        return self

    @property
    def count(self):
        return sum(self.counts.values())

    def percentile(self, q):
        """Highest value (us) of the bucket holding quantile q (0..1); None if empty."""
        total = self.count
        if total == 0:
            return None
        # The rank of the sample at quantile q, 1-based, at least 1.
        rank = max(1, -(-int(round(q * total * 1e9)) // 1000000000))
        seen = 0
        for i in sorted(self.counts):
            seen += self.counts[i]
            if seen >= rank:
                return self._cap(self.bounds(i)[1] - 1)
        return self._cap(self.bounds(max(self.counts))[1] - 1)

    def _cap(self, v):
        # As as-loadgen does: never above the exact maximum.
        return min(v, self.exact[1]) if self.exact is not None else v

    def mean(self):
        total = self.count
        if total == 0:
            return None
        if self.exact is not None:
            return self.exact[2] / total
        return sum((sum(self.bounds(i)) - 1) / 2.0 * n for i, n in self.counts.items()) / total

    def summary(self):
        exact = self.exact is not None and self.count > 0
        return {"count": self.count, "mean": self.mean(),
                "min": self.exact[0] if exact else self.percentile(0.0),
                "p50": self.percentile(0.50), "p90": self.percentile(0.90),
                "p99": self.percentile(0.99), "p999": self.percentile(0.999),
                "max": self.exact[1] if exact else self.percentile(1.0)}


def merge_all(objs):
    """One Histogram from a list of JSON histograms (None if the list is empty)."""
    out = None
    for o in objs:
        h = Histogram.from_json(o)
        out = h if out is None else out.merge(h)
    return out
