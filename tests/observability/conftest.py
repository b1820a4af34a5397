"""The node fixtures of tests/node, shared."""

from tests.node.conftest import database, jpn

__all__ = ["database", "jpn"]
