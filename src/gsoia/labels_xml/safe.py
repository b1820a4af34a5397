"""Reading XML that may be hostile: no DTD, no entity, no external reference, and bounds
on size, depth, attribute length and element count.

``defusedxml`` refuses any DTD (so no entity expansion and no external entity can even be
declared); the bounds are checked on the tree it returns, before anything reads it.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from gsoia.labels_xml.errors import LabelXmlError

MAX_BYTES = 4 * 1024 * 1024
"""The largest document read (the NATO SPIF is under 100 KB)."""
MAX_DEPTH = 32
"""The deepest element nesting (a SPIF needs 7)."""
MAX_ATTRIBUTE = 4096
"""The longest attribute value or text."""
MAX_ELEMENTS = 100_000


def read_xml(
    data: bytes, what: str, *, max_bytes: int = MAX_BYTES, max_text: int = MAX_ATTRIBUTE
) -> Element:
    """The document's root element, or a ``LabelXmlError`` placed at ``what``; a document
    carrying data (a binding) may allow more bytes and a longer text."""
    if len(data) > max_bytes:
        raise LabelXmlError.of(what, f"larger than {max_bytes} bytes")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise LabelXmlError.of(what, f"refused: {type(e).__name__} (no DTD or entity)") from e
    except ParseError as e:
        raise LabelXmlError.of(what, f"not well-formed XML: {e}") from e
    except LookupError as e:  # its XML declaration names an encoding Python does not know
        raise LabelXmlError.of(what, f"not readable XML: {e}") from e
    except RecursionError as e:  # pragma: no cover - expat builds iteratively
        raise LabelXmlError.of(what, "nested too deeply") from e
    _check_bounds(root, what, max_text)
    return root


def _check_bounds(root: Element, what: str, max_text: int) -> None:
    count = 0
    stack: list[tuple[Element, int]] = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise LabelXmlError.of(what, f"nested deeper than {MAX_DEPTH} elements")
        if count > MAX_ELEMENTS:
            raise LabelXmlError.of(what, f"more than {MAX_ELEMENTS} elements")
        for name, value in element.attrib.items():
            if len(value) > MAX_ATTRIBUTE:
                raise LabelXmlError.of(
                    f"{what}: {local(element.tag)}@{local(name)}",
                    f"attribute longer than {MAX_ATTRIBUTE} characters",
                )
        if element.text is not None and len(element.text) > max_text:
            raise LabelXmlError.of(
                f"{what}: {local(element.tag)}", f"text longer than {max_text} characters"
            )
        stack.extend((child, depth + 1) for child in element)


def local(name: str) -> str:
    """``{namespace}name`` -> ``name``."""
    return name.rsplit("}", 1)[-1]


def namespace(name: str) -> str:
    """``{namespace}name`` -> ``namespace`` (empty if none)."""
    return name[1:].split("}", 1)[0] if name.startswith("{") else ""
