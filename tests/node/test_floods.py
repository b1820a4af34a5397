"""``gsoia.node.floods``: unauthenticated refusals counted per source, at most one entry per
window, no count lost; a budget spent only by refusals (a clock of the test's own)."""

from __future__ import annotations

import threading

from gsoia.node.floods import OTHERS, Floods, Flusher, Refusal, Tally


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def refusal(reason: str = "bad token") -> Refusal:
    return Refusal("refused", "anonymous", {"action": "GET /api/v1/items", "reason": reason})


def total(tallies: list[Tally]) -> int:
    return sum(t.count for t in tallies)


def test_the_first_refusal_is_written_at_once_the_rest_counted_into_the_next() -> None:
    clock = Clock()
    floods = Floods(clock, window=60, budget=1000)
    [first] = floods.refused("10.0.0.1", refusal("first"))
    assert first.entry() == (
        "refused",
        "anonymous",
        {
            "action": "GET /api/v1/items",
            "reason": "first",
            "source": "10.0.0.1",
            "count": 1,
            "from": "2027-01-15T08:00:00.000+00:00",
            "to": "2027-01-15T08:00:00.000+00:00",
        },
    )
    written = [first]
    for n in range(99):
        clock.now += 0.5
        written += floods.refused("10.0.0.1", refusal(f"later {n}"))
    assert written == [first]  # the rest of the minute: counted, not written
    assert floods.due() == []
    clock.now = first.since + 60
    [summary] = floods.refused("10.0.0.1", refusal("after the minute"))
    assert (summary.count, summary.sample.data["reason"]) == (100, "after the minute")
    assert (summary.since, summary.until) == (first.since + 0.5, first.since + 60)
    assert summary.entry()[2]["count"] == 100
    assert total([first, summary]) == 101


def test_sources_are_counted_apart_and_the_periodic_flush_writes_what_is_due() -> None:
    clock = Clock()
    floods = Floods(clock, window=60)
    for source in ("10.0.0.1", "10.0.0.2"):
        assert len(floods.refused(source, refusal())) == 1
    for _ in range(5):
        assert floods.refused("10.0.0.1", refusal()) == []
    assert floods.refused("10.0.0.2", refusal()) == []
    clock.now += 59.9
    assert floods.due() == []
    clock.now += 0.1
    due = floods.due()
    assert {(t.source, t.count) for t in due} == {("10.0.0.1", 5), ("10.0.0.2", 1)}
    assert floods.due() == []  # nothing counted twice
    assert floods.drain() == []


def test_drain_writes_every_count_whatever_its_window() -> None:
    clock = Clock()
    floods = Floods(clock)
    floods.refused("10.0.0.1", refusal())
    for _ in range(41):
        floods.refused("10.0.0.1", refusal())
    clock.now += 1
    assert [(t.source, t.count) for t in floods.drain()] == [("10.0.0.1", 41)]
    assert floods.drain() == []


def test_the_budget_is_spent_by_refusals_only_and_refills() -> None:
    clock = Clock()
    floods = Floods(clock, window=60, budget=100)
    assert floods.retry_after("10.0.0.1") is None  # never refused: never limited
    for _ in range(99):
        floods.refused("10.0.0.1", refusal())
    assert floods.retry_after("10.0.0.1") is None
    floods.refused("10.0.0.1", refusal())
    assert floods.retry_after("10.0.0.1") == 1  # one refusal's worth: 0.6 s, said as 1
    assert floods.retry_after("10.0.0.2") is None  # another source is not slowed
    for _ in range(500):  # a 429 counts, and spends nothing
        floods.refused("10.0.0.1", refusal("429"), spend=False)
    assert floods.retry_after("10.0.0.1") == 1
    for _ in range(1000):  # the debt is at most one budget: a window's wait
        floods.refused("10.0.0.1", refusal())
    assert floods.retry_after("10.0.0.1") == 61
    clock.now += 61
    assert floods.retry_after("10.0.0.1") is None
    clock.now += 60
    assert sum(t.count for t in floods.due()) == 1 + 99 + 500 + 1000 - 1  # the first: at once


def test_too_many_sources_are_counted_together() -> None:
    clock = Clock()
    floods = Floods(clock, window=60, budget=2, max_sources=3)
    written = []
    for n in range(10):
        written += floods.refused(f"10.0.0.{n}", refusal())
        written += floods.refused(f"10.0.0.{n}", refusal())
    assert [t.source for t in written] == ["10.0.0.0", "10.0.0.1", "10.0.0.2", OTHERS]
    assert floods.retry_after("10.0.0.9") is not None  # the others share a budget
    clock.now += 60
    assert total(written) + total(floods.due()) == 20
    clock.now += 60
    floods.due()  # idle, budgets full: forgotten
    assert floods.refused("10.0.0.7", refusal())[0].source == "10.0.0.7"


def test_the_flusher_flushes_while_running_and_everything_as_it_stops() -> None:
    calls: list[bool] = []
    ran = threading.Event()

    def flush(*, everything: bool = False) -> None:
        calls.append(everything)
        ran.set()

    flusher = Flusher(flush, every=0.01)
    flusher.start()
    assert ran.wait(10)
    flusher.stop()
    assert calls[0] is False
    assert calls[-1] is True
    assert calls.count(True) == 1
