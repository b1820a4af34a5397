"""The node fixtures of tests/node, shared."""

from tests.node.conftest import database

__all__ = ["database"]
