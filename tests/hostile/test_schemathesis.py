"""schemathesis against the OpenAPI document a real ``gsoia serve`` process serves.

Every operation of ``/openapi.json`` is called with what schemathesis makes of its declared
parameters and bodies: its coverage cases (boundary values, wrong types, missing and
unknown parameters, methods the path does not have), then generated data, valid
("positive") and breaking the declaration ("negative"). Path parameters are sometimes an
id that exists (an item, a package in the outbox, a consent request, the TAXII
collection, an object, a status, a user), so that generated requests get past "not
found". Callers: an officer (every officer-only endpoint is exercised past its role check),
an admin for what an officer may not do (the accounts), and no one (no credentials at
all). SQLite gets the full run; PostgreSQL a smoke run of generated data only (``SMOKE``),
each call costing about twice as much there.

For every response:

* no 5xx (schemathesis ``not_a_server_error``);
* the body conforms to the response schema the operation declares for its status and
  media type (``response_schema_conformance``);
* an error (4xx) is ``application/problem+json`` whose ``status`` is the HTTP status, with
  a one-line ``detail``; under ``/taxii2/`` it is the TAXII 2.1 error message
  (``application/taxii+json;version=2.1``, §3.6.1) instead, but for a method the path does
  not have (405), which the router answers before any TAXII endpoint sees the request;
* without credentials, nothing but the public endpoints answers with success;
* an answer within ``SLOW`` seconds; and no traceback in serve.log at the end.

``test_declared_media_types`` checks what ``response_schema_conformance`` cannot: that the
document declares the media types the server sends (schemathesis' ST105); where it does
not, the body is never checked against any schema at all.

What cannot be exercised, and why (nothing is left out silently):

* negative data for the operations that declare no parameter and no body (``GET
  /api/v1/me`` …) or only path segments of any text (``GET /api/v1/items/{item_id}``):
  there is nothing to break; schemathesis says "unsatisfiable", recorded in ``Run``;
* ``POST /federation/v1/inbox`` and ``POST /taxii2/.../objects/`` read their bodies
  themselves and declare none, so schemathesis sends them no body; garbage bodies for both
  are sent by ``test_http_hostile.py`` and fuzzed there;
* the TAXII query parameters (``added_after``, ``match[...]``, ``limit``, ``next``) are
  read from the request, not declared, so schemathesis cannot generate them;
  ``test_http_hostile.py`` sends hostile values for each.

The budget is fixed (``EXAMPLES`` and ``SMOKE`` per operation and mode, derandomized so
that a run is reproducible; ``make soak`` gives SQLite about twice ``make test``'s
examples); failures are reported all at once, each with its curl command.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from gsoia.node.authority import TABLE, Action
from gsoia.node.routes import route_action
from gsoia.node.users import Role
from tests import loopback
from tests.budget import THOROUGH
from tests.hostile.conftest import PROBLEM, RunningNode, World

TAXII_MEDIA = "application/taxii+json;version=2.1"
PUBLIC = {
    "GET /.well-known/gsoia",
    "POST /federation/v1/inbox",
    "GET /taxii2/extension-definition",
}
"""The operations anyone may call: the node's identity, the inbox (packages are signed,
not the request), and the extension-definition every STIX reader must be able to fetch."""

EXAMPLES = (
    {"officer": 15, "anonymous": 4, "admin": 15}
    if THOROUGH
    else {"officer": 7, "anonymous": 2, "admin": 7}
)
"""Examples per operation and generation mode, on SQLite: all with
``HYPOTHESIS_PROFILE=thorough`` (``make soak``), about half under ``make test`` (generating
the cases and checking the answers against the schema cost most of the run, not the
node's answering them)."""
SMOKE = {"officer": 5, "anonymous": 2, "admin": 5}
"""The same on PostgreSQL: a smoke run (each call costs about twice as much there)."""
STIX = "application/stix+json;version=2.1"
CHECKS: list[Callable[..., Any]] = [not_a_server_error, response_schema_conformance]
SLOW = 10.0
"""Seconds: a slower answer is a failure (a hostile request must not hold the node)."""


@dataclass
class Run:
    """What one run found: failures (one per operation and check), and what it covered."""

    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, set[int]] = field(default_factory=dict)
    unsatisfiable: list[str] = field(default_factory=list)

    def fail(self, operation: str, check: str, what: str, case: Case[Any] | None = None) -> None:
        if (operation, check) not in self.failures:
            found = f"{operation} [{check}]: {what}"
            if case is not None:
                found += "\n    " + case.as_curl_command(headers={"Authorization": "[Filtered]"})
            self.failures[(operation, check)] = found


def _media(response: schemathesis.Response) -> str:
    values = response.headers.get("content-type") or [""]
    return values[0]


def _error_shape(label: str, response: schemathesis.Response) -> str | None:
    """What is wrong with an error response's media type and body, if anything."""
    media = _media(response)
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"{response.status_code} with a body that is not JSON: {response.content[:200]!r}"
    if not isinstance(body, dict):
        return f"{response.status_code} with a body that is not a JSON object"
    path = label.split(" ", 1)[1]
    # A method the path does not have is answered by the router, before any TAXII endpoint
    # sees the request, as a problem: accepted (the endpoints' own errors are checked).
    if path.startswith("/taxii2/") and response.status_code != 405:
        if media.replace(" ", "") != TAXII_MEDIA:
            return f"{response.status_code} as {media!r}, not {TAXII_MEDIA}"
        if body.get("http_status") != str(response.status_code) or not body.get("title"):
            return f"not a TAXII error message: {response.content[:200]!r}"
        return None
    if media.split(";")[0].strip() != PROBLEM:
        return f"{response.status_code} as {media!r}, not {PROBLEM}: {response.content[:200]!r}"
    detail = body.get("detail")
    if body.get("status") != response.status_code:
        return f"problem status {body.get('status')!r} in a {response.status_code}"
    if not isinstance(detail, str) or not detail.strip() or "\n" in detail:
        return f"problem detail {detail!r} is not one line"
    return None


def _failures_of(error: BaseException) -> str:
    if isinstance(error, FailureGroup):
        return "; ".join(str(e).strip().splitlines()[0] for e in error.exceptions)
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}"


def _for_officers(label: str) -> bool:
    """Whether the authority lets an officer's role do the operation ``METHOD /path``."""
    method, path = label.split(" ", 1)
    action = route_action(method, path)
    assert action is not None, f"{label} is not in the authority's ROUTES"
    if action is Action.WITNESS:  # a pinned peer's signed request: refused to every user
        return False
    roles = TABLE[action].roles
    return roles is None or Role.OFFICER in roles


def _admins_only(label: str) -> bool:
    method, path = label.split(" ", 1)
    return not _for_officers(label) and route_action(method, path) is not Action.WITNESS


def _exercise(
    world: World,
    examples: int,
    user: str | None,
    *,
    coverage: bool,
    only: Callable[[str], bool] | None = None,
) -> Run:
    """Call every operation (or those ``only`` picks by label): ``examples`` generated
    cases per generation mode, and with ``coverage`` schemathesis' coverage cases too
    (boundary values, wrong types, missing and unknown parameters, methods the path does
    not have: deterministic)."""
    schema = schemathesis.openapi.from_url(f"{world.node.url}/openapi.json", timeout=30)
    headers = {"Authorization": f"Bearer {world.node.tokens[user]}"} if user else {}
    run = Run()
    results = list(schema.get_all_operations())
    errors = [result for result in results if not isinstance(result, Ok)]
    assert not errors, f"operations schemathesis cannot read: {errors}"
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 30, [o.label for o in operations]
    operations = [o for o in operations if only is None or only(o.label)]
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    for operation in operations:
        run.calls[operation.label] = 0
        run.statuses[operation.label] = set()
        if coverage:
            generation = schema.config.generation_for(operation=operation)
            for case in schema.iter_coverage_cases(
                operation, generation_modes=modes, generation_config=generation
            ):
                _call(run, operation.label, case, headers)
        known = {
            p.name: world.ids[p.name] for p in operation.path_parameters if p.name in world.ids
        }
        for mode in modes:
            cases = operation.as_strategy(generation_mode=mode)
            if mode is GenerationMode.POSITIVE and known:
                cases = st.one_of(cases, operation.as_strategy(path_parameters=known))
            try:
                _fuzz(run, operation.label, cases, examples, headers)()
            except Unsatisfiable:
                # Negative data exists only where the declaration constrains something: an
                # operation without parameters and body, or whose only parameter is a path
                # segment of any text, cannot be called with data that breaks it.
                if mode is GenerationMode.POSITIVE:
                    run.fail(operation.label, "generation", "no valid request generated")
                run.unsatisfiable.append(operation.label)
    return run


def _fuzz(
    run: Run,
    label: str,
    cases: st.SearchStrategy[Case[Any]],
    examples: int,
    headers: dict[str, str],
) -> Callable[[], None]:
    """A Hypothesis test that calls one operation with ``cases`` and records what fails."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=cases)
    def fuzz(case: Case[Any]) -> None:
        _call(run, label, case, headers)

    test: Callable[[], None] = fuzz
    return test


def _call(run: Run, label: str, case: Case[Any], headers: dict[str, str]) -> None:
    """Call ``case`` and check the response; what fails is recorded in ``run``."""
    response = case.call(headers=headers, timeout=60)
    run.calls[label] += 1
    run.statuses[label].add(response.status_code)
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except (AssertionError, FailureGroup) as e:
        run.fail(label, "schemathesis", _failures_of(e), case)
    if 400 <= response.status_code < 500:  # a server error is not_a_server_error's
        wrong = _error_shape(label, response)
        if wrong is not None:
            run.fail(label, f"error shape {response.status_code}", wrong, case)
    elif response.status_code < 400 and not headers and label not in PUBLIC:
        run.fail(label, "auth", f"{response.status_code} without credentials", case)
    if response.elapsed > SLOW:
        run.fail(label, "time", f"{response.elapsed:.1f} s", case)


def test_every_operation(world: World) -> None:
    backend = world.node.database.backend
    failures: list[str] = []
    total = 0
    callers: list[tuple[str, str | None, Callable[[str], bool] | None]] = [
        ("officer", "off", None),
        ("anonymous", None, None),
        ("admin", "adm", _admins_only),  # what an officer may not do, by an admin
    ]
    for caller, user, only in callers:
        full = backend == "sqlite"
        examples = EXAMPLES[caller] if full else SMOKE[caller]
        run = _exercise(world, examples, user, coverage=full, only=only)
        total += sum(run.calls.values())
        failures += [f"({caller}) {failure}" for failure in run.failures.values()]
        never = [label for label, calls in run.calls.items() if calls == 0]
        assert not never, f"operations never called by the {caller}: {never}"
        if caller == "officer":
            # the officer got past authentication and the role checks everywhere its role
            # may go (the accounts are an admin's: exercised by the admin below)
            refused = [
                label
                for label, s in run.statuses.items()
                if s <= {401, 403} and _for_officers(label)
            ]
            assert not refused, f"operations that only refused the officer: {refused}"
            succeeded = [label for label, s in run.statuses.items() if min(s) < 300]
            assert len(succeeded) >= 20, sorted(run.statuses.items())
        if caller == "admin":
            assert len(run.calls) >= 8, sorted(run.calls)
            refused = [label for label, s in run.statuses.items() if s <= {401, 403}]
            assert not refused, f"operations that only refused the admin: {refused}"
    tracebacks = world.tracebacks()
    if tracebacks:
        failures.append(f"serve.log: {len(tracebacks)} traceback(s): {sorted(set(tracebacks))}")
    assert not failures, f"{len(failures)} failure(s) in {total} calls:\n" + "\n".join(failures)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # one document on both
def test_declared_media_types(jpn: RunningNode) -> None:
    """The document declares the media types the server sends (schemathesis' ST105).

    schemathesis validates a body only against the schema declared for the media type the
    server sent: an error sent as problem+json where the document declares
    ``application/json`` (FastAPI's default 422), or a TAXII answer sent as
    ``application/taxii+json`` where it declares ``application/json``, is never checked.
    """
    jpn.start()
    with loopback.client(base_url=jpn.url, timeout=30) as client:
        document = client.get("/openapi.json").json()
    wrong: list[str] = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items():
                declared = sorted(response.get("content", {}))
                if path.startswith("/taxii2/"):
                    sent = STIX if path.endswith("/extension-definition") else TAXII_MEDIA
                elif status.startswith(("4", "5")):
                    sent = PROBLEM
                else:
                    continue
                if declared and sent.split(";")[0] not in [d.split(";")[0] for d in declared]:
                    wrong.append(
                        f"{method.upper()} {path} {status}: sends {sent}, declares {declared}"
                    )
    assert not wrong, f"{len(wrong)} response(s) declared with another media type:\n" + "\n".join(
        wrong
    )
