"""What each kind of package carries (its ``body``), as a receiver reads it: pure.

A body that does not read is refused whole (MALFORMED), naming the first bad field.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator

from gsoia.federation.packages import Package, PackageRejected, Rejection

_FORBID = ConfigDict(extra="forbid")
Text = Annotated[StrictStr, Field(max_length=1000)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Party = Annotated[StrictStr, Field(min_length=1, max_length=32)]
Person = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class ItemIn(BaseModel):
    """The originator's item as it travels: what the sender's binding signature covers."""

    model_config = _FORBID
    id: Name
    title: Annotated[StrictStr, Field(min_length=1, max_length=1000)]
    originator: Name
    classification: Name
    area: Name | None
    releasable_to: list[Name]
    need_to_know: list[Name]
    created_at: Text
    created_by: Text
    categories: dict[Name, list[Name]] | None = None
    """The label's security categories; none from a sender whose items carry none (it
    sends no such field)."""


class ReleaseBody(BaseModel):
    model_config = _FORBID
    item: ItemIn
    custodian: Name
    grants: list[dict[str, Any]]
    sealed_key: StrictStr
    ciphertext: StrictStr
    content_sha384: Annotated[StrictStr, Field(min_length=96, max_length=96)]
    binding: StrictStr
    origin_seal: StrictStr
    """The originator's seal, encrypted under the content key (``gsoia.node.origin``)."""


class ConsentRequestBody(BaseModel):
    model_config = _FORBID
    request: Name
    item: Name
    to: Party
    custodian: Party
    requested_by: Person


class ConsentReplyBody(BaseModel):
    model_config = _FORBID
    request: Name | None
    item: Name
    to: Party
    granted: bool
    grant: dict[str, Any] | None
    withdrawn: bool = False
    """A consent given before, withdrawn (``granted`` false, no request)."""
    note: Text | None = None
    """The officer's note: conditions of consent, or the reason for refusing."""


class OnwardBody(BaseModel):
    """A custodian's release of the originator's item to a third party."""

    model_config = _FORBID
    item: Name
    to: Party
    package: Name
    released_by: Person
    released_at: Text
    state: Literal["delivered", "received", "refused", "cancelled"] | None = None
    """What came of the release (none: it was made): the custodian's package to the third
    party taken, stored with a verified receipt, refused by its node, or cancelled."""
    reason: Text | None = None
    """Why it was refused (the third party's reason) or cancelled (the officer's note)."""
    at: Text | None = None
    """When the custodian's node learnt it."""


class IncidentBody(BaseModel):
    model_config = _FORBID
    incident: Name
    item: Name
    kind: Literal["loss", "compromise", "possible_loss", "possible_compromise"]
    description: Annotated[StrictStr, Field(max_length=10_000)]
    reported_by: Person
    reported_at: dt.datetime

    @field_validator("reported_at")
    @classmethod
    def _zoned(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("a timestamp with its time zone")
        return value


class IncidentStepBody(BaseModel):
    model_config = _FORBID
    incident: Name
    item: Name
    state: Literal["acknowledged", "investigating", "closed"]
    note: Annotated[StrictStr, Field(min_length=1, max_length=2000)]
    by: Person
    at: Text


class ReclassifyBody(BaseModel):
    model_config = _FORBID
    item: Name
    classification: Name
    origin_seal: StrictStr
    """The originator's new seal, sealed to the custodian (``gsoia.node.origin``)."""


M = TypeVar("M", bound=BaseModel)


def read_body(model: type[M], package: Package) -> M:
    """The package's body as ``model`` reads it; MALFORMED, naming the field, otherwise."""
    try:
        return model.model_validate(package.body)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        place = ".".join(str(p) for p in first["loc"])
        raise PackageRejected(
            Rejection.MALFORMED, f"body.{place}: {first['msg']}", package.id
        ) from e
