"""The inbox: packages from partner nodes, each checked, then applied by its kind.

A package is opened (``gsoia.federation.packages.open_package``: well-formed, signed by a
pinned peer, for this node, fresh), checked against the inbox (never applied twice), and
handed to its kind's handler; a refusal is written to the audit log, or, for a package no
pinned peer signed (its sender not authenticated), counted for the address it came from
(``gsoia.node.floods``). A batch (one package per line) is checked package by package
exactly as each would be alone, in the state the ones before it left; the releases that
follow each other in it are stored together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from gsoia.federation.carried import read_carried
from gsoia.federation.packages import (
    Kind,
    Package,
    PackageRejected,
    Rejection,
    open_package,
    split_batch,
)
from gsoia.node.exchange.acknowledge import Ledger
from gsoia.node.exchange.intake import Arrival, Intake, Outcome
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.received import refusal, replay, seen
from gsoia.node.exchange.witnesses import ShownAs, Witnesses
from gsoia.node.floods import Refusal

if TYPE_CHECKING:
    from gsoia.node.service import Node

log = logging.getLogger("gsoia.exchange")
Handler = Callable[[Package], dict[str, Any]]


class Inbox:
    """The packages this node receives."""

    def __init__(
        self,
        node: Node,
        peers: PeerBook,
        witnesses: Witnesses,
        intake: Intake,
        handlers: Mapping[Kind, Handler],
    ) -> None:
        self.node = node
        self.peers = peers
        self.witnesses = witnesses
        self.intake = intake
        self.handlers = dict(handlers) | {Kind.RELEASE: intake.receive}

    def receive(
        self, raw: bytes, *, source: str | None = None, carried: str | None = None
    ) -> dict[str, Any]:
        """Check and apply a package from a peer; ``PackageRejected`` (audited) otherwise.

        ``source``: the client address it came from; a refusal of a package no pinned peer
        signed is then counted for it (``gsoia.node.floods``), not written alone.
        ``carried``: the ``Gsoia-Consistency`` header it came with (``federation.carried``).
        """
        node = self.node
        package: Package | None = None
        try:
            proof = read_carried(carried)
            self.peers.load()
            self.peers.report()
            package = open_package(
                raw, me=node.nation, peer_keys=self.peers.signing_keys_of(), now=node.clock()
            )
            self.witnesses.observe(package, carried=proof)
            with node.engine.connect() as connection:
                if seen(connection, [package.id]):
                    raise self._replayed([package])[0]
            return self._apply(package)
        except PackageRejected as e:
            if e.package_id is None and package is not None:
                e.package_id = package.id
            self._refused(e, source)
            raise

    def receive_batch(
        self, raw: bytes, *, source: str | None = None, carried: str | None = None
    ) -> list[tuple[str | None, Outcome]]:
        """Check and apply the packages of a batch (one per line), in order, each on its own.

        Each package is checked exactly as ``receive`` checks a package posted alone, in
        the state the packages before it left (a key rotation in the batch is learnt before
        the next package is opened), and refused (``PackageRejected``, audited) or applied.
        What changes is how it is stored: the releases that follow each other in the batch
        are stored in one transaction, with their refusals' entries, in their order (a
        package of another kind is applied alone, once what came before it is). If that
        transaction fails (another request stored one of its packages meanwhile), each is
        stored alone, as ``receive`` would.

        Returns, for each package in order, its id (if it could be read) and what came of
        it: what ``receive`` returns, the ``PackageRejected``, or another exception (the
        node failed: the sender tries again later). ``source`` as for ``receive``.

        Raises:
            PackageRejected: the batch itself is not one (audited; nothing applied).
        """
        node = self.node
        try:
            lines = split_batch(raw)
            proof = read_carried(carried)
        except PackageRejected as e:
            self._refused(e, source)
            raise
        self.peers.load()
        self.peers.report()
        keys = self.peers.signing_keys_of()
        results: list[tuple[str | None, Outcome]] = []
        opened: list[Package | PackageRejected] = []  # releases, checked and stored together
        witnessed: set[ShownAs] = set()  # heads found consistent in this batch
        for line in lines:
            try:
                package = open_package(line, me=node.nation, peer_keys=keys, now=node.clock())
                self.witnesses.observe(package, witnessed, proof)
            except PackageRejected as e:
                opened.append(e)
                continue
            if package.kind is Kind.RELEASE:
                opened.append(package)
                continue
            # another kind: what came before it first, then it alone
            results += self._releases(opened, source)
            opened = []
            results.append((package.id, self._receive_alone(package)))
            self.peers.load()  # (a key rotation changes what the next ones are checked with)
            keys = self.peers.signing_keys_of()
        results += self._releases(opened, source)
        return results

    def _refused(self, error: PackageRejected, source: str | None) -> None:
        """Audit a refused package: alone, or counted for ``source`` when no pinned peer
        signed it (its sender is not authenticated)."""
        if error.anonymous and source is not None:
            self.node.count_refusal(source, Refusal("package.refused", "inbox", refusal(error)))
        else:
            self.node.audit.record("package.refused", "inbox", refusal(error))

    def _apply(self, package: Package) -> dict[str, Any]:
        """Apply a package that passed ``open_package`` and was not seen before."""
        try:
            return self.handlers[package.kind](package)
        except IntegrityError as e:  # the same package, received twice at once
            raise PackageRejected(
                Rejection.REPLAY, "this package is being received", package.id
            ) from e

    def _releases(
        self, opened: list[Package | PackageRejected], source: str | None
    ) -> list[tuple[str | None, Outcome]]:
        """Check the releases of a batch (opened, in order) and store them together."""
        with self.node.engine.connect() as connection:
            received = seen(connection, [p.id for p in opened if isinstance(p, Package)])
        results: list[tuple[str | None, Outcome]] = []
        run: list[Arrival | PackageRejected] = []
        again = self._replayed([p for p in opened if isinstance(p, Package) and p.id in received])
        replays = {e.package_id: e for e in again}
        for package in opened:
            if isinstance(package, PackageRejected):
                run.append(package)
            elif package.id in received:
                run.append(replays[package.id])
            else:
                try:
                    run.append(self.intake.check(package))
                except PackageRejected as e:
                    e.package_id = e.package_id or package.id
                    run.append(e)
                except Exception as e:  # the node's fault, not the package's: said, logged
                    results += self._store_run(run, source)
                    run = []
                    results.append((package.id, self._failed(package, e)))
        results += self._store_run(run, source)
        return results

    def _replayed(self, packages: list[Package]) -> list[PackageRejected]:
        """The refusals of packages received before; a release's carries its receipt."""
        releases = [p.id for p in packages if p.kind is Kind.RELEASE]
        receipts = self.intake.acknowledger.again(releases) if releases else {}
        refusals = []
        for package in packages:
            refused = replay(package)
            refused.receipt = receipts.get(package.id)
            refusals.append(refused)
        return refusals

    def _receive_alone(self, package: Package) -> Outcome:
        """A package of a batch applied as ``receive`` applies it (its refusal audited)."""
        try:
            with self.node.engine.connect() as connection:
                if seen(connection, [package.id]):
                    raise replay(package)
            return self._apply(package)
        except PackageRejected as e:
            e.package_id = e.package_id or package.id
            self.node.audit.record("package.refused", "inbox", refusal(e))
            return e
        except Exception as e:
            return self._failed(package, e)

    def _failed(self, package: Package, error: Exception) -> Exception:
        log.error("inbox: package %s could not be applied", package.id, exc_info=error)
        self.node.refuse("inbox", "POST /federation/v1/inbox/batch", f"500 {type(error).__name__}")
        return error

    def _store_run(
        self, run: list[Arrival | PackageRejected], source: str | None
    ) -> list[tuple[str | None, Outcome]]:
        """Store checked releases and audit refusals in one transaction, in their order
        (the refusals no pinned peer signed counted for ``source``, once it committed)."""
        if not run:
            return []
        counted = source is not None
        ledger = Ledger()
        try:
            outcomes = self.node.audit.batched(
                lambda tx: self.intake.stored_together(
                    ledger.begin(tx), run, ledger, counted=counted
                )
            )
        except Exception:  # e.g. a package another request stored meanwhile: each alone
            outcomes = [self._stored_alone(entry, source) for entry in run]
        else:
            self.intake.acknowledger.acknowledge(ledger)
            for entry in run:
                if isinstance(entry, PackageRejected) and entry.anonymous and counted:
                    self._refused(entry, source)
        return [
            (entry.package_id if isinstance(entry, PackageRejected) else entry.package.id, out)
            for entry, out in zip(run, outcomes, strict=True)
        ]

    def _stored_alone(self, entry: Arrival | PackageRejected, source: str | None) -> Outcome:
        node = self.node
        if isinstance(entry, PackageRejected):
            self._refused(entry, source)
            return entry
        try:
            ledger = Ledger()
            try:
                outcome = node.audit.batched(
                    lambda tx: self.intake.store_alone(ledger.begin(tx), entry, ledger)
                )
                self.intake.acknowledger.acknowledge(ledger)
                return outcome
            except IntegrityError as e:  # the same package, received twice at once
                raise PackageRejected(
                    Rejection.REPLAY, "this package is being received", entry.package.id
                ) from e
        except PackageRejected as e:
            node.audit.record("package.refused", "inbox", refusal(e))
            return e
        except Exception as e:
            return self._failed(entry.package, e)
