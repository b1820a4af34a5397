"""The node: one nation's store of labelled items, its users, its use cases."""
