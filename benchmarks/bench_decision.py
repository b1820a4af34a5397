"""The decision benchmark: gsoia's ``decide_many`` and ``decide`` against Cedar and casbin.

Run ``python benchmarks/bench_decision.py`` (``make bench``); ``--quick`` for a smaller run,
``--help`` for the options. See ``benchmarks/README.md`` for what is measured and how.

Exit status: 0 whether the targets are met or missed (it is a benchmark); 1 if any engine
disagrees with ``decide(...).allow`` (a correctness failure, not a timing one).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

import numpy as np

import targets
from casbin_engine import CasbinEngine
from cedar_engine import CedarEngine
from gsoia.catalogue.load import catalogue_from_document
from gsoia.decision import Rulebook
from precompute import Resolver
from world import DAY, NATIONS, make_labels, make_subjects, make_world

TARGET_BYTES_PER_LABEL = 32
TARGET_DECISIONS_PER_S = 25_000_000
TARGET_DECIDE_MEDIAN_US = 4.0
TARGET_VS_CEDAR = 2_000

LABEL_KEYS = ("originator", "classification", "area", "releasable_to", "need_to_know")


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k labels, smaller samples")
    parser.add_argument("--labels", type=int, help="labels in the table (default 1,000,000)")
    parser.add_argument(
        "--sample", type=int, help="label x subject pairs for Cedar and casbin (default 5,000)"
    )
    parser.add_argument(
        "--decide-sample", type=int, help="requests for single decide (default 20,000)"
    )
    parser.add_argument("--reps", type=int, help="repetitions of each decide_many (default 5)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of decide over the sample"
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    args.labels = args.labels or (100_000 if quick else 1_000_000)
    args.sample = args.sample or (1_000 if quick else 5_000)
    args.decide_sample = max(args.decide_sample or (5_000 if quick else 20_000), args.sample)
    args.reps = args.reps or (3 if quick else 5)
    return args


def _fmt_rate(per_s: float) -> str:
    if per_s >= 1e6:
        return f"{per_s / 1e6:,.1f} M/s"
    if per_s >= 1e3:
        return f"{per_s / 1e3:,.1f} k/s"
    return f"{per_s:,.0f} /s"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def _request(subject: dict[str, Any], label: dict[str, Any], day: dt.date) -> dict[str, Any]:
    """A docs/decision.md §2 request (JSON-shaped: the date as ISO text) for a label dict."""
    request: dict[str, Any] = {
        "subject": subject,
        "label": {k: label[k] for k in LABEL_KEYS if k in label},
        "at": day.isoformat(),
    }
    if "custodian" in label:
        request["custodian"] = label["custodian"]
    if "consented_to" in label:
        request["consented_to"] = label["consented_to"]
    return request


def main(argv: Sequence[str] | None = None) -> int:
    args = _options(argv)
    n = args.labels
    print("gsoia decision benchmark")
    print(
        f"  python {platform.python_version()}, numpy {np.__version__},"
        f" gsoia {_version('gsoia')}, cedarpy {_version('cedarpy')},"
        f" pycasbin {_version('pycasbin')}; {platform.machine()}, {_cpu_count()} CPUs"
    )
    print(f"  load average at start: {_load()}")
    print(
        f"  labels {n:,}, decide sample {args.decide_sample:,}, Cedar/casbin sample"
        f" {args.sample:,}, reps {args.reps}, seed {args.seed}, date {DAY}"
    )

    # -- 1. the world ---------------------------------------------------------------------
    world = make_world(args.seed)
    load_s, catalogue = _timed(lambda: catalogue_from_document(world.document))
    rulebook = Rulebook(catalogue, today=lambda: DAY)
    statuses = Counter(str(a.status_on(DAY) or "none") for a in catalogue.agreements)
    sizes = Counter(len(a.parties) for a in catalogue.agreements)
    print("\n[1] catalogue and data")
    print(
        f"  {len(catalogue.policies)} policies, {len(catalogue.groups)} groups,"
        f" {len(catalogue.agreements)} agreements"
        f" ({', '.join(f'{k}-party: {v}' for k, v in sorted(sizes.items()))});"
        f" loaded in {load_s * 1e3:.1f} ms"
    )
    print(f"  status on {DAY}: {', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))}")
    gc.disable()  # the generator's own millions of objects: no need to scan them as they come
    gen_s, labels = _timed(lambda: make_labels(world, n, args.seed + 1))
    gc.enable()
    subjects = make_subjects(world, args.seed + 2)
    distinct = len({tuple((k, _freeze(v)) for k, v in label.items()) for label in labels})
    print(
        f"  {n:,} labels generated in {gen_s:.2f} s ({distinct:,} distinct);"
        f" {len(subjects)} subjects"
    )
    # The label dicts live for the whole run: keep the cyclic GC from walking them
    # during the timings (it would add its pauses to whichever call triggers it).
    gc.collect()
    gc.freeze()

    # -- 2. the LabelTable ----------------------------------------------------------------
    build_s, table = _timed(lambda: rulebook.label_table(labels))
    bytes_per_label = table.nbytes / len(table)
    print("\n[2] LabelTable")
    print(
        f"  build {build_s:.2f} s ({build_s / n * 1e6:.2f} us/label),"
        f" {table.nbytes:,} bytes = {bytes_per_label:.1f} bytes/label"
    )

    # -- 3. decide_many -------------------------------------------------------------------
    cold: list[float] = []
    allowed: list[np.ndarray[Any, Any]] = []
    for subject in subjects:
        t0 = time.perf_counter()
        result = rulebook.decide_many(subject, table, at=DAY)
        cold.append(time.perf_counter() - t0)
        allowed.append(result)
    times: list[float] = []
    per_subject: list[list[float]] = [[] for _ in subjects]
    for _ in range(args.reps):
        for i, subject in enumerate(subjects):
            t0 = time.perf_counter_ns()
            rulebook.decide_many(subject, table, at=DAY)
            elapsed = (time.perf_counter_ns() - t0) / 1e9
            times.append(elapsed)
            per_subject[i].append(elapsed)
    many_median = statistics.median(times)
    many_rate = n / many_median
    per_1m_ms = many_median / n * 1e6 * 1e3
    subject_medians = [statistics.median(t) for t in per_subject]
    print("\n[3] decide_many(subject, table, at=DAY)")
    print(
        f"  {len(subjects)} subjects x {args.reps} reps: median {many_median * 1e3:.2f} ms"
        f" per call = {per_1m_ms:.2f} ms per 1M labels = {_fmt_rate(many_rate)}"
    )
    print(
        f"  per-subject medians {min(subject_medians) * 1e3:.2f}..{max(subject_medians) * 1e3:.2f}"
        f" ms; all calls {min(times) * 1e3:.2f}..{max(times) * 1e3:.2f} ms;"
        f" first call per subject (cold, resolves rules 3-5) median"
        f" {statistics.median(cold) * 1e3:.2f} ms, max {max(cold) * 1e3:.2f} ms"
    )
    rates = [f"{s['id']} {a.mean():.1%}" for s, a in zip(subjects, allowed, strict=True)]
    print(f"  allowed share: {', '.join(rates)}")

    # -- 4. decide, one at a time ---------------------------------------------------------
    pairs = _pairs(world_groups(world.document), subjects, labels, args.decide_sample, args.seed)
    requests = [_request(subjects[s], labels[i], DAY) for s, i in pairs]
    for subject in subjects:  # warm up: rules 3-5 resolved for every nation (cold cost: [3])
        rulebook.decide(_request(subject, labels[0], DAY))
    for request in requests[:500]:
        rulebook.decide(request)
    overhead = int(statistics.median(_timer_overhead_ns() for _ in range(2_000)))
    decide = rulebook.decide
    clock = time.perf_counter_ns
    single_ns: list[int] = []
    decisions = []
    for request in requests:
        t0 = clock()
        decision = decide(request)
        single_ns.append(clock() - t0 - overhead)
        decisions.append(decision)
    ordered = sorted(single_ns)
    decide_median = ordered[len(ordered) // 2] / 1e3
    decide_p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1e3
    decide_mean = statistics.fmean(ordered) / 1e3
    stalls = sum(1 for ns in ordered if ns > 1_000_000)
    chunk = 100
    chunk_us: list[float] = []
    for start in range(0, len(requests) - chunk + 1, chunk):
        part = requests[start : start + chunk]
        t0 = clock()
        for request in part:
            decide(request)
        chunk_us.append((clock() - t0) / chunk / 1e3)
    by_reason: dict[str, list[int]] = {}
    for decision, ns in zip(decisions, single_ns, strict=True):
        by_reason.setdefault(str(decision.reason), []).append(ns)
    allow = [d.allow for d in decisions]
    print("\n[4] decide(request), one at a time")
    print(
        f"  {len(requests):,} requests (half uniform pairs, half with the subject's nation"
        " releasable), each call timed with perf_counter_ns"
        f" (timer pair overhead {overhead} ns, subtracted):"
    )
    print(
        f"  median {decide_median:.2f} us, p99 {decide_p99:.2f} us, mean {decide_mean:.2f} us"
        f" ({stalls} calls over 1 ms: scheduler stalls on this machine)"
    )
    print(
        f"  batches of {chunk} calls, one timer per batch: median of batch means"
        f" {statistics.median(chunk_us):.2f} us, fastest batch {min(chunk_us):.2f} us"
    )
    print("  per reason (count, median us):")
    for reason, values in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        print(f"    {reason:<16}{len(values):>7,}{statistics.median(values) / 1e3:>9.2f}")

    # -- 5. Cedar and casbin --------------------------------------------------------------
    sample_pairs = pairs[: args.sample]
    sample_labels = {i: labels[i] for _, i in sample_pairs}
    engine_pairs = [(subjects[s], i) for s, i in sample_pairs]
    resolver = Resolver(world.document, DAY)
    cedar_setup_s, cedar = _timed(lambda: CedarEngine(resolver, NATIONS, subjects, sample_labels))
    cedar_requests = cedar.requests(engine_pairs)
    cedar.decide(cedar_requests[:50])  # warm up
    cedar_errors = cedar.errors(cedar_requests)
    cedar_times: list[float] = []
    cedar_allow: list[bool] = []
    for _ in range(max(1, min(3, args.reps))):
        seconds, cedar_allow = _timed(lambda: cedar.decide(cedar_requests))
        cedar_times.append(seconds)
    cedar_rate = len(cedar_requests) / statistics.median(cedar_times)
    floor_s, _ = _timed(lambda: cedar.decide_permit_all(cedar_requests))
    cedar_floor_rate = len(cedar_requests) / floor_s
    casbin_setup_s, casbin = _timed(lambda: CasbinEngine(resolver, subjects, sample_labels))
    casbin_requests = casbin.requests(engine_pairs)
    casbin.decide(casbin_requests[:20])  # warm up
    casbin_s, casbin_allow = _timed(lambda: casbin.decide(casbin_requests))
    casbin_rate = len(casbin_requests) / casbin_s
    print("\n[5] Cedar (cedarpy) and casbin (pycasbin), rules 3-5 precomputed per label")
    print(
        f"  cedarpy: {len(cedar_requests):,} requests in one is_authorized_batch"
        f" (PolicySet and Entities parsed once, {1 + len(NATIONS)} policies):"
        f" median {statistics.median(cedar_times) * 1e3:.1f} ms of {len(cedar_times)}"
        f" = {_fmt_rate(cedar_rate)}; setup {cedar_setup_s:.2f} s; evaluation errors"
        f" {cedar_errors}"
    )
    print(
        f"  cedarpy floor, same requests and entities with one unconditional permit:"
        f" {floor_s * 1e3:.1f} ms = {_fmt_rate(cedar_floor_rate)} (not a rule set; for scale)"
    )
    print(
        f"  pycasbin: {len(casbin_requests):,} enforce() calls in {casbin_s * 1e3:.0f} ms"
        f" = {_fmt_rate(casbin_rate)}; setup {casbin_setup_s:.2f} s"
    )

    # -- 6. agreement ---------------------------------------------------------------------
    many_diff = sum(1 for (s, i), a in zip(pairs, allow, strict=True) if bool(allowed[s][i]) != a)
    cedar_diff = sum(1 for a, b in zip(cedar_allow, allow, strict=False) if a != b)
    casbin_diff = sum(1 for a, b in zip(casbin_allow, allow, strict=False) if a != b)
    mismatches = many_diff + cedar_diff + casbin_diff + cedar_errors
    sample_allowed = sum(allow[: args.sample])
    print("\n[6] agreement with decide(...).allow")
    print(f"  decide_many: {many_diff} mismatches of {len(pairs):,}")
    print(f"  cedarpy:     {cedar_diff} mismatches of {len(cedar_allow):,}")
    print(f"  pycasbin:    {casbin_diff} mismatches of {len(casbin_allow):,}")
    print(
        f"  (the Cedar/casbin sample: {sample_allowed} allowed,"
        f" {args.sample - sample_allowed} denied)"
    )
    print(f"mismatches: {mismatches}")

    # -- 7. summary -----------------------------------------------------------------------
    single_rate = 1e6 / decide_median
    rows = [
        ("gsoia decide_many (LabelTable)", many_rate),
        ("gsoia decide (single, median)", single_rate),
        ("cedarpy is_authorized_batch", cedar_rate),
        ("pycasbin Enforcer.enforce", casbin_rate),
        ("(cedarpy floor: permit-all)", cedar_floor_rate),
    ]
    print("\n[7] summary")
    print(f"  {'engine':<34}{'decisions/s':>16}{'decide_many is':>20}")
    for name, rate in rows:
        print(f"  {name:<34}{rate:>16,.0f}{f'{many_rate / rate:,.1f}x faster':>20}")
    vs_cedar = many_rate / cedar_rate
    print()
    checks = [
        (
            "LabelTable bytes/label",
            f"{bytes_per_label:.1f}",
            f"<= {TARGET_BYTES_PER_LABEL}",
            bytes_per_label <= TARGET_BYTES_PER_LABEL,
        ),
        ("LabelTable build", f"{build_s:.2f} s for {n:,}", "(no target)", None),
        (
            "decide_many decisions/s",
            f"{many_rate:,.0f} ({per_1m_ms:.2f} ms per 1M)",
            f">= {TARGET_DECISIONS_PER_S:,} (<= 40 ms per 1M)",
            many_rate >= TARGET_DECISIONS_PER_S,
        ),
        (
            "decide median",
            f"{decide_median:.2f} us (p99 {decide_p99:.2f} us)",
            f"<= {TARGET_DECIDE_MEDIAN_US} us",
            decide_median <= TARGET_DECIDE_MEDIAN_US,
        ),
        (
            "decide_many vs cedarpy batch",
            f"{vs_cedar:,.0f}x",
            f">= {TARGET_VS_CEDAR:,}x",
            vs_cedar >= TARGET_VS_CEDAR,
        ),
        ("engines agree with decide", f"{mismatches} mismatches", "0", mismatches == 0),
    ]
    for name, value, target, ok in checks:
        mark = "" if ok is None else _verdict(ok)
        print(f"  {name:<30}{value:<34}{target:<30}{mark}")
    record(bytes_per_label, many_rate, per_1m_ms, decide_median, vs_cedar, cedar_rate, mismatches)

    load = f"{_load()} on {_cpu_count()} CPUs"
    print(f"\n  load average at end: {load} (above the CPU count, timings are shared)")
    if args.profile:
        _profile(rulebook, requests)
    return 1 if mismatches else 0


def record(
    bytes_per_label: float,
    many_rate: float,
    per_1m_ms: float,
    decide_median: float,
    vs_cedar: float,
    cedar_rate: float,
    mismatches: int,
) -> None:
    """The targets' rows for ``make bench``'s table (``targets.py``)."""
    targets.record(
        f"`decide_many` ≥ {TARGET_DECISIONS_PER_S / 1e6:.0f} M decisions/s",
        f"{many_rate / 1e6:,.0f} M/s ({per_1m_ms:.2f} ms per 1M labels)",
        many_rate,
        many_rate >= TARGET_DECISIONS_PER_S,
    )
    targets.record(
        f"`decide_many` ≥ {TARGET_VS_CEDAR:,}× cedarpy's batch",
        f"{many_rate / 1e6:,.0f} M/s",
        vs_cedar,
        vs_cedar >= TARGET_VS_CEDAR,
        peer=f"cedarpy {cedar_rate:,.0f}/s",
        ratio=vs_cedar,
    )
    targets.record(
        f"LabelTable ≤ {TARGET_BYTES_PER_LABEL} bytes a label",
        f"{bytes_per_label:.1f} bytes",
        bytes_per_label,
        bytes_per_label <= TARGET_BYTES_PER_LABEL,
    )
    targets.record(
        f"`decide` median ≤ {TARGET_DECIDE_MEDIAN_US:g} µs",
        f"{decide_median:.2f} µs",
        decide_median,
        decide_median <= TARGET_DECIDE_MEDIAN_US,
    )
    targets.record(
        "engines agree with `decide`",
        f"{mismatches} mismatches",
        mismatches,
        mismatches == 0,
    )


def world_groups(document: dict[str, Any]) -> dict[str, list[str]]:
    return dict(document.get("groups", {}))


def _pairs(
    groups: dict[str, list[str]],
    subjects: list[dict[str, Any]],
    labels: list[dict[str, Any]],
    count: int,
    seed: int,
) -> list[tuple[int, int]]:
    """(subject, label) index pairs: half uniform, half where the subject's nation is the
    originator or in ``releasable_to`` (so that rules past NOT_RELEASABLE are exercised)."""
    rng = random.Random(seed + 3)
    by_nation: dict[str, list[int]] = {}
    for i, subject in enumerate(subjects):
        by_nation.setdefault(subject["nation"], []).append(i)
    pairs: list[tuple[int, int]] = []
    while len(pairs) < count:
        index = rng.randrange(len(labels))
        if len(pairs) % 2 == 0:
            pairs.append((rng.randrange(len(subjects)), index))
            continue
        label = labels[index]
        reach = {label["originator"]}
        for name in label["releasable_to"]:
            reach.update(groups.get(name, [name]))
        candidates = [i for nation in sorted(reach) for i in by_nation.get(nation, [])]
        if candidates:
            pairs.append((rng.choice(candidates), index))
    return pairs


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def _timer_overhead_ns() -> int:
    clock = time.perf_counter_ns
    t0 = clock()
    return clock() - t0


def _profile(rulebook: Rulebook, requests: list[dict[str, Any]]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for request in requests:
        rulebook.decide(request)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(25)
    print(f"\n[profile] decide over {len(requests):,} requests")
    print(out.getvalue())


if __name__ == "__main__":
    sys.exit(main())
