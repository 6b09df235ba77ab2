from __future__ import annotations

import pytest

from kubelab.api.selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
    selector_from_match_labels,
)

LABELS = {"app": "web", "tier": "fe", "env": "prod"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app in (web, db)", True),
        ("app in (db)", False),
        ("app notin (db,cache)", True),
        ("app notin (web)", False),
        ("missing notin (x)", True),
        ("tier", True),
        ("missing", False),
        ("!missing", True),
        ("!tier", False),
        ("app=web,tier=fe", True),
        ("app=web,tier=be", False),
        ("app in (web),env notin (dev),!canary", True),
    ],
    ids=str,
)
def test_label_selector_matches(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is expected


@pytest.mark.parametrize(
    "selector",
    ["app=web=x", "app in ()", "in (a)", "app=", "a b", "key=va lue", "bad key=1", "-x=1"],
)
def test_bad_label_selectors_are_rejected_naming_the_term(selector: str) -> None:
    if selector == "app=":
        # an empty value is a valid label value: `app=` matches app=""
        assert parse_label_selector(selector).matches({"app": ""})
        return
    with pytest.raises(SelectorError) as info:
        parse_label_selector(selector)
    assert selector in str(info.value)


def test_match_labels_and_expressions() -> None:
    sel = selector_from_match_labels(
        {"app": "web"}, [{"key": "env", "operator": "In", "values": ["prod", "stage"]}]
    )
    assert sel.matches(LABELS)
    assert not sel.matches({"app": "web", "env": "dev"})


def test_field_selector_equality_and_negation() -> None:
    sel = parse_field_selector("spec.nodeName=n1,status.phase!=Failed")
    assert sel.matches({"spec.nodeName": "n1", "status.phase": "Running"})
    assert not sel.matches({"spec.nodeName": "n1", "status.phase": "Failed"})
    assert not sel.matches({"spec.nodeName": "n2", "status.phase": "Running"})
    assert sel.exact("spec.nodeName") == "n1"
    assert parse_field_selector("spec.nodeName==").matches({"spec.nodeName": ""})


def test_field_selector_rejects_unknown_fields_listing_the_allowed_ones() -> None:
    with pytest.raises(SelectorError, match=r"spec\.bogus.*metadata\.name"):
        parse_field_selector("spec.bogus=1", frozenset({"metadata.name"}))
