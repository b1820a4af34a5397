"""The release decision (docs/decision.md §3), one request at a time or a whole batch.

Same nation (subject.nation == label.originator):
  1 CLEARANCE, 2 NEED_TO_KNOW, 3 ALLOW with the originator's own level.
Foreign subject:
  1 NOT_RELEASABLE, 2 THIRD_PARTY, 3 NO_AGREEMENT (with survival), 4 OUT_OF_SCOPE,
  5 NO_EQUIVALENT (fewest parties, then smallest id, governs), 6 CLEARANCE against the
  equivalent level, 7 NEED_TO_KNOW, 8 ALLOW with the dual marking.

Rules 3-5 are read from the tables of ``gsoia.decision.tables`` by both ``decide`` and
``decide_many``. Pure: the date is an argument, and "today" comes from a clock the caller
hands in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from gsoia.catalogue.model import Agreement, Catalogue, Status
from gsoia.decision.categories import lacking
from gsoia.decision.labels import LabelTable, build_label_table
from gsoia.decision.request import (
    Label,
    LabelFields,
    RequestFields,
    Subject,
    SubjectFields,
    as_request,
    check_request,
    clearance_on,
    label_fields,
    parse_request,
    parse_subject,
    quick_fields,
    subject_fields,
    subject_problems,
)
from gsoia.decision.ruling import Decision, Marking, Reason
from gsoia.decision.tables import Codes, Outcome
from gsoia.errors import Problem, RequestError

_OUTCOME_REASON = {
    Outcome.NO_AGREEMENT: (Reason.NO_AGREEMENT, 3),
    Outcome.OUT_OF_SCOPE: (Reason.OUT_OF_SCOPE, 4),
    Outcome.NO_EQUIVALENT: (Reason.NO_EQUIVALENT, 5),
}


class Rulebook:
    """A validated catalogue compiled for deciding. ``gsoia.load_catalogue`` returns one."""

    def __init__(self, catalogue: Catalogue, today: Callable[[], dt.date]) -> None:
        self.catalogue = catalogue
        self.codes = Codes(catalogue)
        self._today = today
        self._levels = self.codes.level_refs
        self._ranks = {policy_id: policy.ranks for policy_id, policy in catalogue.policies.items()}
        self._names_known = catalogue.names_known
        self._naming = catalogue.naming
        self._cited: dict[tuple[Reason, str, str], Agreement | None] = {}
        self._own_markings = {
            policy: [Marking(level, level, None) for level in levels]
            for policy, levels in self._levels.items()
        }

    # -- one request ----------------------------------------------------------------------

    def decide(self, request: Mapping[str, Any]) -> Decision:
        """Decide one request (docs/decision.md §2); ``RequestError`` if it is malformed."""
        quick = quick_fields(request)
        if quick is None:  # the schema refuses it, naming the field, or accepts it
            parsed = parse_request(request)
            check_request(self.catalogue, parsed)
            return self.decide_parsed(
                parsed["subject"],
                parsed["label"],
                custodian=parsed.get("custodian"),
                consented_to=parsed.get("consented_to", ()),
                at=parsed.get("at"),
            )
        if not self._knows_all(quick):  # unknown names, or categories: the full checks
            check_request(self.catalogue, as_request(quick))
        return self._decide(
            quick.subject, quick.label, quick.custodian, quick.consented_to, quick.at
        )

    def _knows_all(self, request: RequestFields) -> bool:
        """The common case, quickly: every name in the request is known, and it carries no
        categories (a request with some is checked by ``check_request``)."""
        ranks, names = self._ranks, self._names_known
        subject, label = request.subject, request.label
        own, source = ranks.get(subject.nation), ranks.get(label.originator)
        clearance, custodian, consented_to = (
            subject.clearance,
            request.custodian,
            request.consented_to,
        )
        return (
            own is not None
            and source is not None
            and label.classification in source
            and (clearance is None or clearance in own)
            and (custodian is None or custodian in ranks)
            and names.issuperset(label.releasable_to)
            and (not consented_to or names.issuperset(consented_to))
            and not label.categories
            and not subject.categories
        )

    def decide_parsed(
        self,
        subject: Subject,
        label: Label,
        *,
        custodian: str | None = None,
        consented_to: Collection[str] = (),
        at: dt.date | None = None,
    ) -> Decision:
        """Decide for a subject and label already checked against this catalogue."""
        return self._decide(
            subject_fields(subject), label_fields(label), custodian, consented_to, at
        )

    def _decide(
        self,
        subject: SubjectFields,
        label: LabelFields,
        custodian: str | None,
        consented_to: Collection[str],
        at: dt.date | None,
    ) -> Decision:
        """The rules in order, each read only once those before it pass."""
        day = at or self._today()
        nation, originator = subject.nation, label.originator
        if nation == originator:  # rules 1-3
            return self._decide_own(subject, label, day)

        naming = self._naming[nation]  # the names that stand for the nation: catalogue.names
        releasable_to = label.releasable_to
        if naming.isdisjoint(releasable_to):  # foreign rule 1
            return self._not_releasable(originator, releasable_to, nation)
        holder = custodian or originator
        # foreign rule 2: the third-party rule
        if holder not in (originator, nation) and naming.isdisjoint(consented_to):
            return self._third_party(originator, holder, nation)
        # foreign rules 3-5, from the shared tables
        resolution = self.codes.resolution(nation, day)
        key = self.codes.key(originator, label.classification, label.area)
        cell = resolution.cells[holder == nation][key]
        outcome, rank, agreement = cell.outcome, cell.rank, cell.agreement
        if outcome is not Outcome.GOVERNED:
            reason, rule = _OUTCOME_REASON[outcome]
            return _deny(
                reason,
                rule,
                agreement.id if agreement else None,
                lambda: self._rule_3_to_5_text(outcome, originator, nation, label, day),
                agreement,
            )
        assert agreement is not None
        protected = cell.protected
        clearance = _clearance_on(subject, day)
        if self._rank(nation, clearance) < rank:  # foreign rule 6
            return self._cleared_below(subject, clearance, rank, protected, agreement, day)
        missing = self._missing(subject, label)
        if missing[0] or missing[1]:  # foreign rule 7
            return _deny(
                Reason.NEED_TO_KNOW,
                7,
                agreement.id,
                lambda: _need_text(subject, missing, 7),
                agreement,
            )
        marking = cell.marking
        assert marking is not None  # INVARIANT: a governed cell carries its marking
        marked = marking.text
        return Decision(
            True,
            Reason.ALLOW,
            8,
            agreement.id,
            marking,
            lambda: _allowed_text(subject, protected, marked, agreement, day),
        )

    def _rank(self, nation: str, clearance: str | None) -> int:
        """The rank of a clearance in its nation's policy; -1 for none."""
        return -1 if clearance is None else self._ranks[nation][clearance]

    def _missing(self, subject: SubjectFields, label: LabelFields) -> tuple[list[str], list[str]]:
        """What the subject lacks for the label: need-to-know topics, then categories."""
        needed, held = label.need_to_know, subject.need_to_know
        topics = [t for t in needed if t not in held] if needed else []
        categories = label.categories  # decided with the need-to-know (rules 2, 7)
        policy = self.catalogue.policies[label.originator]
        return topics, lacking(policy, categories, subject.categories) if categories else []

    def _not_releasable(
        self, originator: str, releasable_to: Collection[str], nation: str
    ) -> Decision:
        """Foreign rule 1: the label does not name the subject's nation."""
        return Decision(
            False,
            Reason.NOT_RELEASABLE,
            1,
            None,
            None,
            lambda: _not_releasable_text(
                originator,
                releasable_to,
                nation,
                self._citing(Reason.NOT_RELEASABLE, originator, nation),
            ),
        )

    def _third_party(self, originator: str, holder: str, nation: str) -> Decision:
        """Foreign rule 2: a custodian's release to a third party without consent."""
        return Decision(
            False,
            Reason.THIRD_PARTY,
            2,
            None,
            None,
            lambda: _third_party_text(
                originator, holder, nation, self._citing(Reason.THIRD_PARTY, originator, holder)
            ),
        )

    def _cleared_below(
        self,
        subject: SubjectFields,
        clearance: str | None,
        rank: int,
        protected: str,
        agreement: Agreement,
        day: dt.date,
    ) -> Decision:
        """Foreign rule 6: the subject's clearance is below the equivalent level."""
        nation = subject.nation
        return _deny(
            Reason.CLEARANCE,
            6,
            agreement.id,
            lambda: (
                f"Rule 6 (CLEARANCE): {protected};"
                f" {_clearance_text(subject, clearance, day)}, and a {nation}"
                f" clearance of {self._levels[nation][rank].id} or higher is needed."
            ),
            agreement,
        )

    def _decide_own(self, subject: SubjectFields, label: LabelFields, day: dt.date) -> Decision:
        """Rules 1-3 for a subject of the originator's nation, on its own levels."""
        nation = subject.nation
        original_rank = self._ranks[nation][label.classification]
        original = self._levels[nation][original_rank]
        clearance = _clearance_on(subject, day)
        if self._rank(nation, clearance) < original_rank:  # same nation, rule 1
            return _deny(
                Reason.CLEARANCE,
                1,
                None,
                lambda: (
                    f"Rule 1 (CLEARANCE): the item is {original.described()};"
                    f" {_clearance_text(subject, clearance, day)}, and a {nation}"
                    f" clearance of {original.id} or higher is needed."
                ),
            )
        missing = self._missing(subject, label)
        if missing[0] or missing[1]:  # same nation, rule 2
            return _deny(Reason.NEED_TO_KNOW, 2, None, lambda: _need_text(subject, missing))
        return Decision(
            True,
            Reason.ALLOW,
            3,
            None,
            self._own_markings[nation][original_rank],
            lambda: (
                f"Rule 3 (ALLOW): {_who(subject)} is cleared for {original.described()}"
                " and holds the need-to-know."
            ),
        )

    def _citing(self, reason: Reason, party: str, other: str) -> Agreement | None:
        """The agreement between two parties whose text is cited for ``reason``, if any.

        For the third-party rule: the agreement under which the custodian received the item.
        """
        key = (reason, party, other)
        if key not in self._cited:
            codes = self.codes
            pair = (codes.policy_code[party], codes.policy_code[other])
            recorded = [
                self.catalogue.agreements[i]
                for i in codes.pairs.get(pair, [])
                if reason.value in self.catalogue.agreements[i].articles
            ]
            self._cited[key] = min(recorded, key=lambda a: (len(a.parties), a.id), default=None)
        return self._cited[key]

    def _rule_3_to_5_text(
        self,
        outcome: Outcome,
        originator: str,
        nation: str,
        label: LabelFields,
        day: dt.date,
    ) -> str:
        if outcome is Outcome.NO_AGREEMENT:
            pair = (self.codes.policy_code[originator], self.codes.policy_code[nation])
            shared = [self.catalogue.agreements[i] for i in self.codes.pairs.get(pair, [])]
            states = ", ".join(f"{a.id} {a.status_on(day) or 'not yet begun'}" for a in shared)
            known = f" ({states})" if states else " (none is known)"
            return (
                f"Rule 3 (NO_AGREEMENT): no agreement between {originator} and {nation}"
                f" is in force on {day.isoformat()}{known}."
            )
        if outcome is Outcome.OUT_OF_SCOPE:
            return (
                f"Rule 4 (OUT_OF_SCOPE): no agreement in force between {originator} and"
                f" {nation} covers the area '{label.area or '(none)'}'."
            )
        original = self._levels[originator][self._ranks[originator][label.classification]]
        return (
            f"Rule 5 (NO_EQUIVALENT): no agreement in force between {originator} and"
            f" {nation} gives {original.described()} an equivalent in {nation}'s policy;"
            " it is not exchanged."
        )

    # -- many labels --------------------------------------------------------------------

    def label_table(self, labels: Iterable[Mapping[str, Any]]) -> LabelTable:
        """Columns of many label dicts (each may carry ``custodian`` and ``consented_to``)."""
        return build_label_table(self.codes, labels)

    def decide_many(
        self,
        subject: Mapping[str, Any] | Subject,
        labels: LabelTable | Iterable[Mapping[str, Any]],
        at: dt.date | str | None = None,
    ) -> npt.NDArray[np.bool_]:
        """Whether ``subject`` may see each label: exactly ``decide(...).allow``, vectorised.

        ``at``: the day to decide on (a ``datetime.date`` or an ISO 8601 date string, as a
        request's ``at``); today if None. ``RequestError`` names ``at`` for anything else.
        """
        at = day_given(at)
        subject = parse_subject(subject)
        found = subject_problems(self.catalogue, subject, "subject")
        if found:
            raise RequestError(found)
        table = labels if isinstance(labels, LabelTable) else self.label_table(labels)
        if table.codes is not self.codes:
            raise RequestError([Problem("labels", "the table was built for another catalogue")])
        day = at or self._today()
        nation_id = subject["nation"]
        nation = self.codes.policy_code[nation_id]
        clearance = clearance_on(subject, day)
        rank = -1 if clearance is None else self.catalogue.policies[nation_id].ranks[clearance]
        resolution = self.codes.resolution(nation_id, day)
        allowed_keys = resolution.allowed_keys(rank)  # rules 3-6 (same nation: rule 1)
        allowed: npt.NDArray[np.bool_]
        if resolution.survival_differs:  # [survival, key] flattened: survival adds a row
            held = (table.custodian == nation).astype(np.intp) * allowed_keys.shape[1]
            allowed = np.take(allowed_keys.ravel(), table.key.astype(np.intp) + held)
        else:
            allowed = np.take(allowed_keys[0], table.key)
        bit = np.uint64(1 << (nation % 64))  # rules 1-2
        allowed &= (table.open[nation // 64] & bit).astype(np.bool_)
        for word, mask in zip(
            table.need, table.topic_mask(subject.get("need_to_know", ())), strict=True
        ):
            lacking = np.uint64(~mask & (2**64 - 1))  # need-to-know: topics not held
            if lacking:
                allowed &= (word & lacking) == 0
        held_categories = subject.get("categories") or {}
        for word, mask in zip(
            table.restricted, table.restricted_mask(held_categories), strict=True
        ):
            lacking = np.uint64(~mask & (2**64 - 1))  # restrictive categories not held
            if lacking:
                allowed &= (word & lacking) == 0
        for column in table.permitted:  # permissive: none of the tag, or one held
            present = np.zeros(len(table), dtype=np.bool_)
            hit = np.zeros(len(table), dtype=np.bool_)
            held_mask = column.mask(held_categories.get(column.tag, ()))
            for word, mask in zip(column.masks, held_mask, strict=True):
                present |= word != 0
                hit |= (word & np.uint64(mask)) != 0
            allowed &= ~present | hit
        return allowed


def day_given(at: object) -> dt.date | None:
    """``at`` as a day: a date (a datetime's date), an ISO 8601 date string, or None;
    ``RequestError`` naming ``at`` and echoing the value otherwise."""
    if at is None or (isinstance(at, dt.date) and not isinstance(at, dt.datetime)):
        return at
    if isinstance(at, dt.datetime):
        return at.date()
    if isinstance(at, str):
        try:
            return dt.date.fromisoformat(at)
        except ValueError:
            pass
    shown = repr(at)[:60]
    raise RequestError([Problem("at", f"a date (YYYY-MM-DD or datetime.date), not {shown}")])


def _deny(
    reason: Reason,
    rule: int,
    agreement_id: str | None,
    text: Callable[[], str],
    agreement: Agreement | None = None,
) -> Decision:
    return Decision(
        False, reason, rule, agreement_id, None, lambda: cited(text(), reason, agreement)
    )


def cited(text: str, reason: Reason, agreement: Agreement | None) -> str:
    """The sentence, citing the agreement's article for ``reason`` where one is recorded."""
    article = agreement.articles.get(reason.value) if agreement is not None else None
    if agreement is not None and article:
        return f"{text[:-1]} ({agreement.id} {article})."
    return text


def _not_releasable_text(
    originator: str, releasable_to: Collection[str], nation: str, agreement: Agreement | None
) -> str:
    listed = ", ".join(releasable_to)
    to = f"releasable only to {listed}" if listed else "NOFORN (releasable to no foreign nation)"
    return cited(
        f"Rule 1 (NOT_RELEASABLE): the {originator} item is {to}, not to {nation}.",
        Reason.NOT_RELEASABLE,
        agreement,
    )


def _third_party_text(
    originator: str, holder: str, nation: str, agreement: Agreement | None
) -> str:
    return cited(
        f"Rule 2 (THIRD_PARTY): {holder} holds this {originator} item and may not"
        f" release it to {nation} without {originator}'s prior written consent.",
        Reason.THIRD_PARTY,
        agreement,
    )


def _allowed_text(
    subject: SubjectFields, protected: str, marked: str, agreement: Agreement, day: dt.date
) -> str:
    """Rule 8's sentence; an agreement no longer in force still protects (survival)."""
    survived = ""
    status = agreement.status_on(day)
    if status is not None and status is not Status.IN_FORCE:
        survived = (
            f" {agreement.id} is {status.value}, but information already exchanged"
            " stays protected (survival)."
        )
        article = agreement.articles.get("SURVIVAL")
        if article:
            survived = survived[:-1] + f", {agreement.id} {article})."
    return (
        f"Rule 8 (ALLOW): {protected}; {_who(subject)} is cleared and holds the"
        f" need-to-know; marked {marked}.{survived}"
    )


def _clearance_on(subject: SubjectFields, day: dt.date) -> str | None:
    """The clearance held on ``day``: none once it has expired (``clearance_on``)."""
    expires = subject.clearance_expires
    if expires is not None and day > expires:
        return None
    return subject.clearance


def _who(subject: SubjectFields) -> str:
    return subject.id or f"the {subject.nation} subject"


def _clearance_text(subject: SubjectFields, clearance: str | None, day: dt.date) -> str:
    who = _who(subject)
    if clearance is not None:
        return f"{who} holds {subject.nation} {clearance}"
    held, expires = subject.clearance, subject.clearance_expires
    if held is not None and expires is not None:
        return (
            f"{who}'s {subject.nation} {held} clearance expired on"
            f" {expires.isoformat()} (decision dated {day.isoformat()})"
        )
    return f"{who} holds no clearance"


def _need_text(subject: SubjectFields, missing: tuple[list[str], list[str]], rule: int = 2) -> str:
    """What the subject lacks: need-to-know topics, then categories."""
    topics, categories = missing
    lacks = []
    if topics:
        lacks.append(f"the need-to-know in {', '.join(topics)}")
    if categories:
        lacks.append(f"the categories {'; '.join(categories)}")
    return (
        f"Rule {rule} (NEED_TO_KNOW): {_who(subject)} lacks {' and '.join(lacks)},"
        " which the item requires."
    )
