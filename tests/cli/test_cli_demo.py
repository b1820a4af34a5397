"""``gsoia demo``: three live nodes tell the Japan–Canada story, every verdict real."""

from __future__ import annotations

from cli_support import MARKING_TEXT, Runner, no_traceback


def test_demo_tells_the_story_through_live_nodes(run_script: Runner) -> None:
    result = run_script("demo", "--no-serve", env={"COLUMNS": "300"}, timeout=600)
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    out = result.stdout

    # Talks and signature: Japan's node refuses to release; in force: it releases.
    talks, signed = out.index("2022-10-11"), out.index("2025-07-08")
    allowed = out.index(MARKING_TEXT)
    assert talks < signed < allowed
    assert out[talks:allowed].count("NO_AGREEMENT (rule 3)") == 2
    assert "delivered" in out[allowed:]

    # Canada's CONFIDENTIAL analyst is refused; the third-party rule holds until consent.
    clearance = out.index("CLEARANCE (rule 6)")
    third_party = out.index("THIRD_PARTY (rule 2)")
    us_marking = out.index("USA SECRET // JPN 極秘 // JPN-USA")
    assert allowed < clearance < third_party < us_marking

    # The compromise reaches Japan; a Canadian analyst visits Japan, reads the item during
    # the visit, is refused the day after; survival holds; every audit log verifies.
    assert "reached Japan's officers" in out
    visit = out.index("visits Japan")
    during, after = out.index("during the visit", visit), out.index("the day after", visit)
    assert out.index(MARKING_TEXT, during) < after
    assert "held until" in out[after:]
    assert "survival" in out[us_marking:]
    assert out.count("entries verified") == 3
