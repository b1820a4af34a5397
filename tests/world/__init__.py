"""A generated world of five peered nodes: every endpoint against decide (issue 7, part 4)."""
