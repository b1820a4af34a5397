"""Hostile input (issue 7, item 3): schemathesis, fuzzing, and hostile HTTP requests."""
