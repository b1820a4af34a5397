"""The node's user accounts: who signs in with which token, cleared for what; and each change.

A change (add, disable, enable, rotate-token, set, remove) is put to the authority
(``users.manage``: an admin of this node's nation, or the operator at the CLI) with the
account as the change would leave it, and is made in one transaction with its audit entry,
which names the actor and never holds a token or a hash. A change that takes the account
away from its holder (disable, rotate-token, remove) deletes its web sessions in the same
transaction (``gsoia.node.sessions``).

Each account's row carries the node's signature over its security fields and its version,
which the change's audit entry records (``gsoia.node.signed_rows``): a row edited or put
back in SQL authenticates no one (``TamperedAccount``, audited), and is changed no more
(``IntegrityFailure``) until an admin removes it.

A token found is trusted for ``SIGNED_IN_FOR`` seconds without asking the store again (a
query is a third of a small request's CPU; a visitor's token is asked about every time),
and so is a web session: a change committed by
any process, on any host sharing the database, holds on every worker within that bound. The
process that made the change forgets what it trusted at once.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import Enum
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from gsoia.audit.log import AuditTransaction
from gsoia.decision.categories import held_problems
from gsoia.errors import Problem, RequestError
from gsoia.node.authority import Account, Action, Actor, Target
from gsoia.node.categories import Held, as_dict, frozen, to_column
from gsoia.node.errors import (
    Conflict,
    IntegrityFailure,
    NotFound,
    TamperedAccount,
    Unauthorized,
)
from gsoia.node.recent import Recent
from gsoia.node.sessions import end_all
from gsoia.node.signed_rows import USER_FIELDS, RowSeal
from gsoia.node.users import SIGNED_IN_FOR, Role, User, new_token, same_hash, token_hash
from gsoia.node.versions import versioned
from gsoia.node.visitors import PREFIX as VISITOR
from gsoia.node.visitors import Window, end_visits, visiting_window
from gsoia.store.database import peeking
from gsoia.store.schema import users

if TYPE_CHECKING:
    from gsoia.node.service import Node

MAX_ID = 128
MAX_TOPIC = 64


class Disabled(Unauthorized):
    """The token is a disabled account's."""


class Keep(Enum):
    """A field ``set`` leaves as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class Changes:
    """What ``set`` changes: each field given a value (None: none), or ``KEEP``."""

    clearance: str | Keep | None = KEEP
    clearance_expires: dt.date | Keep | None = KEEP
    need_to_know: Sequence[str] | Keep = KEEP
    role: Role | Keep = KEEP
    categories: Mapping[str, Sequence[str]] | Keep = KEEP
    """The security categories held, by tag (they replace the user's)."""

    def given(self) -> list[str]:
        """The names of the fields this changes."""
        return [name for name, value in vars(self).items() if value is not KEEP]


@dataclass(frozen=True)
class UserRecord:
    """An account as the node holds it: the user, whether it is disabled, since when."""

    user: User
    disabled: bool
    created_at: str

    @property
    def id(self) -> str:
        return self.user.id

    def to_dict(self) -> dict[str, Any]:
        return self.user.to_dict() | {"disabled": self.disabled, "created_at": self.created_at}

    @classmethod
    def from_row(cls, row: Any) -> UserRecord:
        return cls(User.from_row(row), bool(row.disabled), str(row.created_at))


_USER_BY_TOKEN = select(users).where(users.c.token_hash == bindparam("hashed"))


class Accounts:
    """The node's accounts: list, add, disable, enable, rotate-token, set, remove; and
    ``authenticate``, the token's holder."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.seal = RowSeal(
            "user", USER_FIELDS, node.keys.signing, node.public.signing, node.versions
        )
        """Signs each account's row as it is written, checks it as it is read."""
        self._signed_in: Recent[str, tuple[User, float, Window | None]] = Recent(1_000)
        """Users found by token hash, and when (``authenticate``)."""

    # -- who holds a token -------------------------------------------------------------------

    def authenticate(self, token: str, user_id: str | None = None) -> User:
        """The enabled user holding ``token`` (and, for HTTP Basic, named ``user_id``).

        A token found is trusted for ``SIGNED_IN_FOR`` seconds (module docstring); a token
        not found, or a disabled user's, is asked about every time, and so is a visitor's
        (``gsoia.node.visitors``), which holds only within its visit's days.
        """
        hashed = token_hash(token)
        now = time.monotonic()
        known = self._signed_in.get(hashed)
        if known is not None and now - known[1] < SIGNED_IN_FOR:
            user, window = known[0], known[2]
        else:
            with peeking(self.node.engine) as connection:
                row = connection.execute(_USER_BY_TOKEN, {"hashed": hashed}).first()
                window = visiting_window(connection, row.id) if row is not None else None
            if row is None or not same_hash(row.token_hash, hashed):
                raise Unauthorized("unknown or revoked token")
            if not self.seal.holds_now(dict(row._mapping)):
                self.node.audit.record(
                    "integrity", "node", {"user": row.id, "where": "authenticate"}
                )
                raise TamperedAccount(
                    f"the account '{row.id}' no longer matches its signature", audited=True
                )
            if row.disabled:
                raise Disabled(f"the account '{row.id}' is disabled")
            user = User.from_row(row)
            if window is None:  # a visitor's account is asked about every time: its removal
                self._signed_in.put(hashed, (user, now, window))  # holds at once everywhere
        if window is not None:
            window.check(user.id, self.node.today())
        if user_id is not None and user_id != user.id:
            raise Unauthorized("the token does not belong to that user")
        return user

    # -- visitors' accounts (``gsoia.node.visitors``) --------------------------------------------

    def admit_visitor(self, tx: AuditTransaction, actor_id: str, user: User) -> str:
        """Add a visitor's account in ``tx`` (its id is no user's: it holds a ':'); its token."""
        token = new_token()
        self._insert(tx, actor_id, user, token, self.node.audit.now())
        return token

    def end_visitor(self, tx: AuditTransaction, actor_id: str, user_id: str) -> None:
        """Remove a visitor's account in ``tx`` (if it is still there)."""
        row = tx.connection.execute(select(users).where(users.c.id == user_id)).first()
        if row is not None:
            self._delete(tx, actor_id, dict(row._mapping))
            tx.on_commit(self._forget)

    # -- reading -------------------------------------------------------------------------------

    def list(self, actor: Actor) -> list[UserRecord]:
        """Every account, by id."""
        self.node.require(actor, Action.USERS)
        with peeking(self.node.engine) as connection:
            rows = connection.execute(select(users).order_by(users.c.id)).all()
        return [UserRecord.from_row(row) for row in rows]

    def get(self, actor: Actor, user_id: str) -> UserRecord:
        """One account; ``NotFound`` if there is none of that id."""
        self.node.require(actor, Action.USERS)
        with peeking(self.node.engine) as connection:
            return _found(connection, user_id)

    # -- changes -------------------------------------------------------------------------------

    def add(
        self,
        actor: Actor,
        user_id: str,
        nation: str,
        *,
        clearance: str | None = None,
        clearance_expires: dt.date | None = None,
        need_to_know: Sequence[str] = (),
        role: Role = Role.ANALYST,
        categories: Mapping[str, Sequence[str]] | None = None,
    ) -> tuple[UserRecord, str]:
        """Register a user; the account and its API token (shown once, stored hashed)."""
        self.node.require(actor, Action.USERS)
        held = frozen(categories)
        self._check(nation, clearance, need_to_know, held)
        if not _well_formed(user_id):
            raise RequestError.of("id", f"1 to {MAX_ID} printable characters, no ':'")
        user = User(user_id, nation, clearance, clearance_expires, tuple(need_to_know), role, held)
        record = UserRecord(user, False, self.node.audit.now())
        self.node.require(actor, Action.USERS, Target(account=_account(user)))
        token = new_token()
        try:
            with self.node.audit.transaction() as tx:
                self._insert(tx, _actor_id(actor), user, token, record.created_at)
        except IntegrityError as e:
            raise Conflict(f"id: a user '{user_id}' already exists") from e
        return record, token

    def _insert(
        self, tx: AuditTransaction, actor_id: str, user: User, token: str, created_at: str
    ) -> None:
        """Write a new account's row, signed, in its next version, with its entry."""
        seal = self.seal
        values: dict[str, Any] = {
            "id": user.id,
            "nation": user.nation,
            "clearance": user.clearance,
            "clearance_expires": user.clearance_expires,
            "need_to_know": json.dumps(list(user.need_to_know)),
            "role": user.role.value,
            "categories": to_column(as_dict(user.categories)),
            "token_hash": token_hash(token),
            "created_at": created_at,
            "disabled": False,
        }
        # an id used before (removed since) goes on from its last version
        subject = seal.subject(values)
        values["version"] = version = seal.versions.latest(subject) + 1
        tx.connection.execute(insert(users).values(**values, signature=seal.signature(values)))
        tx.append("user.added", actor_id, versioned({"user": user.to_dict()}, subject, version))
        tx.on_commit(lambda: seal.versions.note(subject, version))

    def disable(self, actor: Actor, user_id: str) -> UserRecord:
        """Disable an account: its token and web sessions stop working (a disabled account
        disabled again is left as it is)."""
        with self._changing(actor, user_id) as (tx, record, row):
            if record.disabled:
                return record
            version = self._write(tx, row, disabled=True)
            ended = end_all(tx.connection, user_id)
            data = {"user": user_id, "sessions": ended}
            tx.append("user.disabled", _actor_id(actor), self._versioned(data, row, version))
        return replace(record, disabled=True)

    def enable(self, actor: Actor, user_id: str) -> UserRecord:
        """Enable a disabled account: its token works again (its old sessions do not)."""
        with self._changing(actor, user_id) as (tx, record, row):
            if not record.disabled:
                return record
            version = self._write(tx, row, disabled=False)
            data = {"user": user_id}
            tx.append("user.enabled", _actor_id(actor), self._versioned(data, row, version))
        return replace(record, disabled=False)

    def rotate_token(self, actor: Actor, user_id: str) -> tuple[UserRecord, str]:
        """A new token for the account (shown once, stored hashed); the old one and the web
        sessions opened with it stop working."""
        token = new_token()
        with self._changing(actor, user_id) as (tx, record, row):
            version = self._write(tx, row, token_hash=token_hash(token))
            ended = end_all(tx.connection, user_id)
            data = {"user": user_id, "sessions": ended}
            tx.append("user.token_rotated", _actor_id(actor), self._versioned(data, row, version))
        return record, token

    def set(self, actor: Actor, user_id: str, changes: Changes) -> UserRecord:
        """Change an account's clearance, its expiry, its need-to-know, its role or its
        security categories."""
        given = changes.given()
        if not given:
            raise RequestError.of("changes", "give at least one of " + ", ".join(vars(changes)))
        with self._changing(actor, user_id, changes) as (tx, record, row):
            after = _changed(record.user, changes)
            if after == record.user:
                return record
            before_view, after_view = record.user.to_dict(), after.to_dict()
            version = self._write(
                tx,
                row,
                clearance=after.clearance,
                clearance_expires=after.clearance_expires,
                need_to_know=json.dumps(list(after.need_to_know)),
                role=after.role.value,
                categories=to_column(as_dict(after.categories)),
            )
            data = {
                "user": user_id,
                "before": {k: before_view[k] for k in given},
                "after": {k: after_view[k] for k in given},
            }
            tx.append("user.changed", _actor_id(actor), self._versioned(data, row, version))
        return replace(record, user=after)

    def remove(self, actor: Actor, user_id: str) -> UserRecord:
        """Remove an account: its token and web sessions stop working; what it did stays in
        the audit log under its id. A visitor's account (``visitor:VISIT:PERSON``) goes with
        its row of days, and the visiting party is told (``visitor_removed``); the removal gives
        no clearance, so only the role is weighed."""
        if user_id.startswith(VISITOR):
            self.node.require(actor, Action.USERS)
            with self.node.audit.transaction() as tx:
                row = _found_row(tx.connection, user_id, visitor=True)
                told = self.node.exchange.visit_steps.tell_removed(tx, _actor_id(actor), user_id)
                ended = end_visits(tx, user_id)
                self._delete(tx, _actor_id(actor), row)
                tx.on_commit(self._forget)
            assert ended  # INVARIANT: a visitor's account is added with its row of days
            if told is not None:
                self.node.exchange.courier.deliver(told)  # the visiting party is told at once
            return UserRecord.from_row(SimpleNamespace(**row))
        with self._changing(actor, user_id, intact=False) as (tx, record, row):
            self._delete(tx, _actor_id(actor), row)
        return record

    def _delete(self, tx: AuditTransaction, actor_id: str, row: Mapping[str, Any]) -> None:
        """Delete an account's row and its sessions, the removal a version of its own (the
        row put back is an older one), with its entry."""
        user_id = str(row["id"])
        record = UserRecord.from_row(SimpleNamespace(**row))
        ended = end_all(tx.connection, user_id)
        tx.connection.execute(delete(users).where(users.c.id == user_id))
        subject, versions = self.seal.subject(row), self.seal.versions
        version = max(int(row["version"]), versions.latest(subject)) + 1
        data = {"user": record.to_dict(), "sessions": ended}
        tx.append("user.removed", actor_id, versioned(data, subject, version))
        tx.on_commit(lambda: versions.note(subject, version))

    # -- the parts of every change -------------------------------------------------------------

    @contextmanager
    def _changing(
        self, actor: Actor, user_id: str, changes: Changes | None = None, *, intact: bool = True
    ) -> Iterator[tuple[AuditTransaction, UserRecord, Mapping[str, Any]]]:
        """A transaction holding the account ``user_id`` as stored (and its row), once the
        authority has allowed ``actor`` to change it (as ``changes`` would leave it); what
        this process trusted of any account is forgotten as it commits.

        ``intact``: the row must match its signature and be the latest version, else
        ``IntegrityFailure`` (a change would sign what was edited behind the node's back);
        a removal takes it as it is.
        """
        self.node.require(actor, Action.USERS)
        with self.node.audit.transaction() as tx:
            row = _found_row(tx.connection, user_id)
            if intact and not self.seal.holds_now(row):
                raise IntegrityFailure(
                    f"the account '{user_id}' no longer matches its signature: remove it"
                )
            record = UserRecord.from_row(SimpleNamespace(**row))
            after = record.user
            if changes is not None:
                after = _changed(record.user, changes)
                self._check(after.nation, after.clearance, after.need_to_know, after.categories)
            self.node.require(actor, Action.USERS, Target(account=_account(after)))
            tx.on_commit(self._forget)
            yield tx, record, row

    def _write(self, tx: AuditTransaction, row: Mapping[str, Any], **values: Any) -> int:
        """Change an account's row: its next version, signed; the version (for the entry,
        ``_versioned``), which this process knows as the transaction commits."""
        changed = {**row, **values, "version": int(row["version"]) + 1}
        version = int(changed["version"])
        tx.connection.execute(
            update(users)
            .where(users.c.id == row["id"])
            .values(**values, version=version, signature=self.seal.signature(changed))
        )
        subject, versions = self.seal.subject(row), self.seal.versions
        tx.on_commit(lambda: versions.note(subject, version))
        return version

    def _versioned(
        self, data: dict[str, Any], row: Mapping[str, Any], version: int
    ) -> dict[str, Any]:
        """An entry's data recording the account's new version."""
        return versioned(data, self.seal.subject(row), version)

    def _forget(self) -> None:
        self._signed_in = Recent(self._signed_in.size)
        self.node.sessions.forget()

    def _check(
        self, nation: str, clearance: str | None, topics: Sequence[str], held: Held = ()
    ) -> None:
        """The account's attributes against the catalogue: ``RequestError`` naming each."""
        catalogue = self.node.rulebook.catalogue
        policy = catalogue.policies.get(nation)
        if policy is None:
            raise RequestError.of("nation", f"unknown policy '{nation}'")
        if clearance is not None and clearance not in policy.ranks:
            raise RequestError.of("clearance", f"unknown level '{clearance}' of {nation}")
        check_topics(topics)
        problems = held_problems(catalogue, as_dict(held), "categories")
        if problems:
            raise RequestError(problems)


def check_topics(topics: Sequence[str]) -> None:
    """``RequestError`` naming each need-to-know area that is not 1 to ``MAX_TOPIC``
    printable characters."""
    problems = [
        Problem(f"need_to_know[{i}]", f"1 to {MAX_TOPIC} printable characters")
        for i, topic in enumerate(topics)
        if not (0 < len(topic) <= MAX_TOPIC and topic.isprintable())
    ]
    if problems:
        raise RequestError(problems)


def _actor_id(actor: Actor) -> str:
    assert actor is not None  # INVARIANT: the authority refuses no actor (UNAUTHENTICATED)
    return actor.id


def _account(user: User) -> Account:
    """The account as the authority weighs it."""
    return Account(user.id, user.nation, user.clearance, user.role)


def _well_formed(user_id: str) -> bool:
    return 0 < len(user_id) <= MAX_ID and user_id.isprintable() and ":" not in user_id


def _found(connection: Connection, user_id: str) -> UserRecord:
    """The account ``user_id``; ``NotFound`` if there is none (or the id could be none)."""
    return UserRecord.from_row(SimpleNamespace(**_found_row(connection, user_id)))


def _found_row(connection: Connection, user_id: str, *, visitor: bool = False) -> Mapping[str, Any]:
    """The row of the account ``user_id`` (a visitor's, if ``visitor``); ``NotFound`` if
    there is none."""
    row = None
    if _well_formed(user_id) or (visitor and _well_formed(user_id.replace(":", "-"))):
        row = connection.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound(f"no user '{user_id[:MAX_ID]}'")
    return dict(row._mapping)


def _changed(user: User, changes: Changes) -> User:
    """``user`` as ``changes`` leave it."""
    return User(
        user.id,
        user.nation,
        user.clearance if isinstance(changes.clearance, Keep) else changes.clearance,
        user.clearance_expires
        if isinstance(changes.clearance_expires, Keep)
        else changes.clearance_expires,
        user.need_to_know
        if isinstance(changes.need_to_know, Keep)
        else tuple(changes.need_to_know),
        user.role if isinstance(changes.role, Keep) else changes.role,
        user.categories if isinstance(changes.categories, Keep) else frozen(changes.categories),
    )
