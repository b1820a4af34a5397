"""What a node counts, for Prometheus: decisions by reason, deliveries by state, latency.

One registry per node, so several nodes in one process (tests, the demo) keep apart.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "gsoia_decisions",
            "Access and release decisions, by reason code",
            ["reason"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "gsoia_deliveries",
            "Delivery attempts of packages to partner nodes, by resulting state",
            ["state"],
            registry=self.registry,
        )
        self.witness_alarms = Counter(
            "gsoia_witness_alarms",
            "Partners found showing two histories of their audit log",
            registry=self.registry,
        )
        self.requests = Histogram(
            "gsoia_request_seconds",
            "HTTP request latency, by method and status class",
            ["method", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
