"""The command line and the Python API as a new user meets them: a port already in use is
one ``gsoia:`` line; ``gsoia decide`` at a terminal says what it waits for; ``decide_many``
takes the day as a request does; input that is not JSON is placed by line and column."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from cli_support import GSOIA, REQUEST, Runner, assert_refused

import gsoia
from gsoia.errors import RequestError


def test_a_port_in_use_is_one_line_and_exit_3(run_script: Runner, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_script("serve", "--data", str(tmp_path / "none"), "--port", str(port))
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"gsoia: cannot listen on http://127.0.0.1:{port}/: another server listens there"
        " (choose --port)"
    ]


def test_decide_at_a_terminal_says_what_it_waits_for(tmp_path: Path) -> None:
    leader, follower = os.openpty()
    try:
        process = subprocess.Popen(
            [str(GSOIA), "decide"],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
        )
        os.write(leader, json.dumps(REQUEST).encode() + b"\n\x04")
        out, err = process.communicate(timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    assert process.returncode == 0, err
    assert b"reading a request as JSON from standard input; end it with Ctrl-D" in err
    assert json.loads(out)["reason"]


def test_decide_from_a_pipe_prints_no_prompt(run: Runner) -> None:
    done = run("decide", input=json.dumps(REQUEST))
    assert done.returncode == 0
    assert done.stderr == ""


def test_not_json_is_placed_by_line_and_column(run: Runner) -> None:
    line = assert_refused(run("decide", input='{\n  "subject": {,\n}'))
    assert "not JSON" in line
    assert "(line 2, column 15)" in line


def test_decide_many_takes_an_iso_day_or_names_at() -> None:
    rulebook = gsoia.load_catalogue()
    subject = REQUEST["subject"]
    labels = [REQUEST["label"], REQUEST["label"] | {"releasable_to": []}]
    as_date = rulebook.decide_many(subject, labels, at=dt.date(2026, 3, 1))
    assert list(rulebook.decide_many(subject, labels, at="2026-03-01")) == list(as_date)
    moment = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    assert list(rulebook.decide_many(subject, labels, at=moment)) == list(as_date)
    with pytest.raises(RequestError) as refused:
        rulebook.decide_many(subject, labels, at="2026-13-01")
    assert str(refused.value.problems[0]) == (
        "at: a date (YYYY-MM-DD or datetime.date), not '2026-13-01'"
    )
