"""Invariants of the pure API helpers, checked with hypothesis."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubelab.api.patch import json_merge_patch, json_patch, strategic_merge_patch
from kubelab.api.selectors import parse_label_selector

keys = st.text(alphabet="abcdefgh", min_size=1, max_size=4)
scalars = st.one_of(st.integers(), st.text(max_size=5), st.booleans())
documents = st.recursive(
    scalars, lambda inner: st.dictionaries(keys, inner, max_size=4), max_leaves=12
).filter(lambda d: isinstance(d, dict))
label_values = st.from_regex(r"\A[a-z0-9]([a-z0-9.-]{0,8}[a-z0-9])?\Z")
label_sets = st.dictionaries(st.from_regex(r"\A[a-z][a-z0-9]{0,6}\Z"), label_values, max_size=5)


@settings(deadline=None, max_examples=60)
@given(documents, documents)
def test_merge_patch_is_idempotent(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    once = json_merge_patch(doc, patch)
    assert json_merge_patch(once, patch) == once


@settings(deadline=None, max_examples=60)
@given(documents)
def test_empty_patches_change_nothing(doc: dict[str, Any]) -> None:
    assert json_merge_patch(doc, {}) == doc
    assert strategic_merge_patch(doc, {}) == doc
    assert json_patch(doc, []) == doc


@settings(deadline=None, max_examples=60)
@given(documents, documents)
def test_merge_patch_never_mutates_its_inputs(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    before = repr(doc), repr(patch)
    json_merge_patch(doc, patch)
    strategic_merge_patch(doc, patch)
    assert (repr(doc), repr(patch)) == before


@settings(deadline=None, max_examples=60)
@given(label_sets)
def test_a_selector_of_an_objects_labels_matches_it(labels: dict[str, str]) -> None:
    text = ",".join(f"{k}={v}" for k, v in labels.items())
    assert parse_label_selector(text).matches(labels)
    negated = ",".join(f"{k}!={v}" for k, v in labels.items())
    assert not labels or not parse_label_selector(negated).matches(labels)
