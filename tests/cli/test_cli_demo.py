"""``gsoia demo``: the Japan–Canada story, every verdict computed."""

from __future__ import annotations

from cli_support import MARKING_TEXT, Runner, no_traceback


def test_demo_tells_the_four_stages(run: Runner) -> None:
    result = run("demo", env={"COLUMNS": "300"})
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    out = result.stdout

    # Before entry into force (talks, signature): no agreement.
    in_force = out.index("2025-10-16")
    before = out[:in_force]
    assert "2025-07-08" in before
    assert "NO_AGREEMENT" in before
    assert "ALLOW" not in before
    assert MARKING_TEXT not in before

    # From entry into force: ALLOW, marked as DECISION.md §4.
    allowed = out.index(MARKING_TEXT)
    assert allowed > in_force
    assert "ALLOW" in out[in_force:allowed]

    # The third-party rule, then survival of the protection after termination.
    third_party = out.index("THIRD_PARTY")
    assert third_party > allowed
    survival = out.lower().index("survival", third_party)
    assert survival > third_party
    after_third_party = out[third_party:]
    assert "NO_AGREEMENT" in after_third_party  # a new release after termination
    assert MARKING_TEXT in after_third_party  # Canada's own copy stays protected
