"""The field's label standards: Open XML SPIF policies, STANAG 4774 confidentiality labels
and their display markings.

Parsing and writing of bytes only (no files, no network): the commands and the node read
and write. Every XML document is read by ``gsoia.labels_xml.safe`` (no DTD, no entity,
bounded size, depth and attribute length); anything refused is a ``LabelXmlError`` naming
the element.
"""

from gsoia.labels_xml.errors import LabelXmlError

__all__ = ["LabelXmlError"]
