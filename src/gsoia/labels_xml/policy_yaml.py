"""A policy as the catalogue's YAML, and back."""

from __future__ import annotations

from typing import Any

import yaml

from gsoia.catalogue.model import Policy


def policy_document(policy_id: str, policy: Policy) -> dict[str, Any]:
    """``{"policies": {id: ...}}``: a catalogue of the one policy, without defaults."""
    return {"policies": {policy_id: policy.model_dump(mode="json", exclude_defaults=True)}}


def policy_yaml(policy_id: str, policy: Policy) -> str:
    """The catalogue YAML of the one policy (``gsoia catalogue check`` accepts it)."""
    return yaml.safe_dump(
        policy_document(policy_id, policy), sort_keys=False, allow_unicode=True, width=100
    )
