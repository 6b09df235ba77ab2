from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubelab.api.types import copy_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(JSON)
def test_copy_json_is_an_equal_copy(value: Any) -> None:
    assert copy_json(value) == value


def test_copy_json_shares_no_container() -> None:
    original: dict[str, Any] = {"a": [{"b": [1, 2]}], "c": {"d": {}}}
    copied = copy_json(original)
    copied["a"][0]["b"].append(3)
    copied["c"]["d"]["e"] = 1
    assert original == {"a": [{"b": [1, 2]}], "c": {"d": {}}}
