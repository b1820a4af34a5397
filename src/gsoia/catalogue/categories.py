"""A policy's marking data and security categories, as an Open XML SPIF describes them.

The catalogue's growth beyond the levels (docs/decision.md §1, "Categories and marking
data"): each level may carry its LACV and its marking phrases per language; a policy may
carry its SPIF object identifier and its category tag sets. A policy without them is the
policy of before, decided exactly as before.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

Oid = Annotated[StrictStr, Field(pattern=r"^[0-2](\.(0|[1-9][0-9]{0,39})){1,40}$")]
"""A dotted object identifier (``1.3.26.1.3.1``)."""

Text = Annotated[StrictStr, Field(min_length=1, max_length=200)]
"""A name or phrase of a SPIF: a category, a tag, a marking phrase."""

Lacv = Annotated[StrictInt, Field(ge=0, lt=2**31)]
"""A Local Attribute Code Value: the number a label's binary encoding carries."""

Lang = Annotated[StrictStr, Field(pattern=r"^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$")]
"""A language tag (``fr``, ``en-GB``)."""


class MarkingCode(StrEnum):
    """Where, and how, a marking phrase is shown (the SPIF's ``code`` values)."""

    PAGE_TOP = "pageTop"
    PAGE_BOTTOM = "pageBottom"
    PAGE_TOP_BOTTOM = "pageTopBottom"
    DOCUMENT_START = "documentStart"
    DOCUMENT_END = "documentEnd"
    NO_NAME_DISPLAY = "noNameDisplay"
    NO_MARKING_DISPLAY = "noMarkingDisplay"
    SUPPRESS_CLASS_NAME = "suppressClassName"
    REPLACE_POLICY = "replacePolicy"


class QualifierKind(StrEnum):
    PREFIX = "prefix"
    SUFFIX = "suffix"
    SEPARATOR = "separator"


class CategoryKind(StrEnum):
    """How a category is decided: restrictive (the subject holds every one on the label),
    permissive (at least one), informative (shown, never decided). ``enumerated-*`` are
    the SPIF's enumerated tags of that kind."""

    RESTRICTIVE = "restrictive"
    PERMISSIVE = "permissive"
    ENUMERATED_RESTRICTIVE = "enumerated-restrictive"
    ENUMERATED_PERMISSIVE = "enumerated-permissive"
    INFORMATIVE = "informative"

    @property
    def rule(self) -> str:
        """``restrictive``, ``permissive`` or ``informative``: how the decision reads it."""
        return self.value.removeprefix("enumerated-")


class Strict(BaseModel):
    """A model of a document: frozen, and any attribute it does not define refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Marking(Strict):
    """One ``markingData``: a phrase (absent: the name itself) in a language, shown where
    its codes say (no code: at the page bottom)."""

    lang: Lang | None = None
    phrase: Text | None = None
    codes: list[MarkingCode] = []


class Qualifier(Strict):
    """One ``qualifier`` of a tag's ``markingQualifier``: text put before, after or between
    the tag's categories in a marking."""

    kind: QualifierKind
    text: Annotated[StrictStr, Field(max_length=200)]
    lang: Lang | None = None
    code: MarkingCode | None = None
    """The ``markingCode`` of the ``markingQualifier`` that holds it."""


class CategoryValue(Strict):
    """One category of a tag (``JPN`` of Releasable To), with the levels it cannot appear at."""

    name: Text
    lacv: Lacv
    markings: list[Marking] = []
    excluded: list[StrictStr] = []
    """Ids of the policy's levels at which a label may not carry this category."""
    obsolete: StrictBool = False


class CategoryTag(Strict):
    """A SPIF ``securityCategoryTag``: a kind of category (its ``name`` is the ``TagName`` of
    a STANAG 4774 label) and its categories."""

    name: Text
    kind: CategoryKind
    single: StrictBool = False
    """Whether a label may carry only one category of this tag (``singleSelection``)."""
    encoding: Text | None = None
    """An informative tag's ``tag7Encoding`` (``bitSetAttributes``)."""
    values: Annotated[list[CategoryValue], Field(min_length=1)]
    markings: list[Marking] = []
    qualifiers: list[Qualifier] = []


class TagSet(Strict):
    """A SPIF ``securityCategoryTagSet``: tags under one object identifier."""

    name: Text
    oid: Oid
    tags: Annotated[list[CategoryTag], Field(min_length=1)]
