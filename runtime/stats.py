"""Counters and latency percentiles for the stats op."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np


class ServiceStats:
    """Request and error counters, and the latest `window` contact latencies (milliseconds)."""

    def __init__(self, window: int = 10_000):
        self.started = time.monotonic()
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.contacts = 0
        self.localizations = 0
        self._latency = np.zeros(window)
        self._count = 0

    def record_latency(self, ms: float) -> None:
        self._latency[self._count % self._latency.size] = ms
        self._count += 1

    def snapshot(self) -> dict:
        n = min(self._count, self._latency.size)
        recent = self._latency[:n]
        pct = (lambda q: round(float(np.percentile(recent, q)), 4)) if n else (lambda q: None)
        return {
            "uptime_s": round(time.monotonic() - self.started, 3),
            "requests": dict(self.requests),
            "errors": dict(self.errors),
            "contacts": self.contacts,
            "localizations": self.localizations,
            "latency_ms": {"count": n, "p50": pct(50), "p90": pct(90), "p99": pct(99),
                           "max": round(float(recent.max()), 4) if n else None},
        }
