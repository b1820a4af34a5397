"""``Recent``: the node's bounded memories (verified rows, rulings, sign-ins, listings)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from gsoia.node.recent import Recent


def test_the_least_recently_used_is_forgotten() -> None:
    recent: Recent[str, int] = Recent(2)
    recent.put("a", 1)
    recent.put("b", 2)
    assert recent.get("a") == 1  # used: "b" is now the least recent
    recent.put("c", 3)
    assert (recent.get("a"), recent.get("b"), recent.get("c")) == (1, None, 3)
    assert len(recent) == 2


@pytest.fixture
def switching_often() -> Iterator[None]:
    """Threads switch as often as the interpreter lets them (races show)."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


@pytest.mark.usefixtures("switching_often")
def test_threads_reading_and_writing_at_once_keep_it_bounded_and_right() -> None:
    """Reads take no lock: a key forgotten between a read's two steps is only a miss, and
    a value read is always the one put under its key."""
    recent: Recent[int, int] = Recent(64)
    errors: list[BaseException] = []

    def use(offset: int) -> None:
        try:
            for n in range(20_000):
                key = (n * 7 + offset) % 200
                recent.put(key, key * 3)
                value = recent.get((key + 1) % 200)
                assert value is None or value == ((key + 1) % 200) * 3
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=use, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert len(recent) <= 64
