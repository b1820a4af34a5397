"""The public Python API (docs/interfaces.md) is pinned: users and scripts depend on these names."""

import gsoia


def test_exported_members_are_pinned() -> None:
    assert sorted(gsoia.__all__) == sorted(
        [
            "Catalogue",
            "CatalogueError",
            "Decision",
            "GsoiaError",
            "InputError",
            "LabelTable",
            "Marking",
            "Problem",
            "Reason",
            "RequestError",
            "Rulebook",
            "__version__",
            "load_catalogue",
            "today_utc",
        ]
    )
    for name in gsoia.__all__:
        assert hasattr(gsoia, name), name


def test_load_catalogue_decides_and_batches() -> None:
    cat = gsoia.load_catalogue()
    request = {
        "subject": {
            "id": "can-0042",
            "nation": "CAN",
            "clearance": "S",
            "clearance_expires": "2027-06-30",
            "need_to_know": ["maritime"],
        },
        "label": {
            "originator": "JPN",
            "classification": "GOKUHI",
            "area": "defence",
            "releasable_to": ["CAN", "FVEY"],
            "need_to_know": ["maritime"],
        },
        "custodian": "JPN",
        "consented_to": [],
        "at": "2026-03-01",
    }
    d = cat.decide(request)
    assert (d.allow, d.reason, d.agreement) == (True, gsoia.Reason.ALLOW, "JPN-CAN")
    assert d.marking is not None
    assert d.to_dict()["marking"] == {
        "level": {"policy": "CAN", "id": "S", "name": "SECRET"},
        "original": {"policy": "JPN", "id": "GOKUHI", "name": "極秘"},
        "text": "CAN SECRET // JPN 極秘 // JPN-CAN",
    }
    table = cat.label_table([request["label"]])
    assert isinstance(table, gsoia.LabelTable)
    import datetime as dt

    assert cat.decide_many(request["subject"], table, at=dt.date(2026, 3, 1)).tolist() == [True]
