"""RFC 8785 JSON canonicalisation (JCS) of the JSON subset gsoia signs.

What is signed is ``canonical_json(value)``, never "whatever json.dumps gave" (the signed
bytes are not the wire bytes): a peer that parses the wire JSON and canonicalises it again
gets the same bytes.

The subset, and how each part maps to RFC 8785:

* objects: any ``Mapping`` with ``str`` keys; members sorted by the UTF-16 code units of
  their names (§3.2.3), so U+1F602 (D83D DE02) sorts before U+FB33;
* arrays: ``list`` or ``tuple``;
* strings: ``str``; escaped as ECMAScript ``JSON.stringify`` does (§3.2.2.2): ``\\"``,
  ``\\\\``, ``\\b \\f \\n \\r \\t``, other U+0000–U+001F as lowercase ``\\u00xx``; every
  other character literal, UTF-8 encoded. A lone surrogate is not Unicode (§3.1): refused;
* ``True``, ``False``, ``None``;
* integers within ±(2**53 − 1), the I-JSON range (§3.1) where ``str(int)`` equals the
  ECMAScript number serialisation (§3.2.2.3).

Floats are refused outright: gsoia never signs one, and an integer-valued float would be
serialised without its ``.0`` — a silent change of type. Anything else (``datetime``,
``bytes``, ``set``, ``Decimal`` …) raises ``TypeError`` naming the type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

__all__ = ["MAX_SAFE_INTEGER", "canonical_json"]

MAX_SAFE_INTEGER = 2**53 - 1

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_ESCAPES: dict[int, str] = {code: f"\\u{code:04x}" for code in range(0x20)}
_ESCAPES.update({ord(char): escape for char, escape in _SHORT_ESCAPES.items()})
_FAST = msgspec.json.Encoder(order="sorted")


def canonical_json(value: object) -> bytes:
    """The RFC 8785 canonical form of ``value``, UTF-8 encoded.

    Raises:
        TypeError: a value outside the subset (a float, a ``datetime``, a non-``str`` key,
            an integer beyond ±(2**53 − 1) …), naming its type and where it is.
        ValueError: a string holding a lone surrogate, or a container that contains itself.
    """
    if _plain(value, 0):
        # The common case, in C: for ASCII keys, str, bool, None and safe ints, msgspec's
        # sorted compact output is exactly RFC 8785's (its keys sorted by their bytes, as
        # their UTF-16 code units where they are ASCII; its escapes ECMAScript's).
        try:
            return _FAST.encode(value)
        except UnicodeEncodeError:
            pass  # a lone surrogate: the emitter below names it
    parts: list[str] = []
    _emit(value, parts, "$", set())
    # INVARIANT: _string refused lone surrogates, so this cannot raise.
    return "".join(parts).encode("utf-8")


def _plain(value: object, depth: int) -> bool:
    """Whether ``value`` needs nothing the fast encoder does not do as JCS does."""
    if depth > 100:
        return False
    kind = type(value)
    if kind is dict:
        for key in value:  # type: ignore[attr-defined]
            if type(key) is not str or not key.isascii():
                return False
        return _all_plain(value.values(), depth + 1)  # type: ignore[attr-defined]
    if kind is list:
        return _all_plain(value, depth + 1)  # type: ignore[arg-type]
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER  # type: ignore[operator]
    return False


def _all_plain(members: Iterable[object], depth: int) -> bool:
    """``_plain`` of each member; strings, ``None`` and booleans (most of a signed
    message) judged here, without a call each."""
    for member in members:
        of = type(member)
        if of is not str and member is not None and of is not bool and not _plain(member, depth):
            return False
    return True


def _emit(value: object, out: list[str], where: str, open_containers: set[int]) -> None:
    # bool before int: bool is a subclass of int.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value, where))
    elif isinstance(value, float):
        raise TypeError(f"{where}: float {value!r} is not signed by gsoia; use an int or a str")
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise TypeError(
                f"{where}: int {value} is outside ±(2**53 - 1), the range JSON numbers keep"
            )
        out.append(int.__repr__(value))
    elif isinstance(value, Mapping):
        _enter(value, where, open_containers)
        members: list[tuple[bytes, str, str, object]] = []
        for key, member in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: object key {key!r} is {type(key).__name__}, not str")
            member_where = f"{where}[{key!r}]"
            members.append((_utf16_units(key, member_where), member_where, key, member))
        members.sort(key=lambda m: m[0])
        out.append("{")
        for index, (_, member_where, key, member) in enumerate(members):
            if index:
                out.append(",")
            out.append(_string(key, member_where))
            out.append(":")
            _emit(member, out, member_where, open_containers)
        out.append("}")
        open_containers.discard(id(value))
    elif isinstance(value, list | tuple):
        _enter(value, where, open_containers)
        out.append("[")
        for index, element in enumerate(value):
            if index:
                out.append(",")
            _emit(element, out, f"{where}[{index}]", open_containers)
        out.append("]")
        open_containers.discard(id(value))
    else:
        raise TypeError(f"{where}: {type(value).__name__} is not canonical JSON")


def _enter(container: object, where: str, open_containers: set[int]) -> None:
    if id(container) in open_containers:
        raise ValueError(f"{where}: a container that contains itself is not JSON")
    open_containers.add(id(container))


def _utf16_units(text: str, where: str) -> bytes:
    """Big-endian UTF-16: its bytes compare as the code units do (RFC 8785 §3.2.3)."""
    try:
        return str.encode(text, "utf-16-be")
    except UnicodeEncodeError as e:
        raise ValueError(f"{where}: {_lone_surrogate(e)}") from e


def _string(text: str, where: str) -> str:
    try:
        str.encode(text, "utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{where}: {_lone_surrogate(e)}") from e
    return '"' + str.translate(text, _ESCAPES) + '"'


def _lone_surrogate(e: UnicodeEncodeError) -> str:
    return f"lone surrogate U+{ord(e.object[e.start]):04X} at offset {e.start} is not Unicode"
