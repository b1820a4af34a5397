"""The one error of the label standards: an XML document refused, naming the element."""

from __future__ import annotations

from gsoia.errors import InputError


class LabelXmlError(InputError):
    """A SPIF or a STANAG 4774 label refused (hostile, malformed, or not valid under its
    policy); nothing of it was used. Its place names the element (``Category[Releasable
    To].GenericValue[EAPC]``)."""
