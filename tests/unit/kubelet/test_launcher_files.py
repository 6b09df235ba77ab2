"""The shim's own file formats: its hand-written JSON and the marshalled spec."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from node_agent.kubelet import launcher

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)


@given(st.dictionaries(st.text(), scalars, max_size=5))
def test_dumps_is_json(data: dict[str, str | int | float | bool | None]) -> None:
    assert json.loads(launcher.dumps(data)) == data


def test_exit_file_shape() -> None:
    text = launcher.dumps({"exitCode": 128, "finishedAt": 1.5, "error": 'no "x"\n\x01'})
    assert json.loads(text) == {"exitCode": 128, "finishedAt": 1.5, "error": 'no "x"\n\x01'}


def test_spec_round_trip(tmp_path: Path) -> None:
    spec = {"argv": ["sh", "-c", "x"], "env": {"A": "b"}, "uid": None, "mounts": [{"a": True}]}
    launcher.write_spec(str(tmp_path / "spec"), spec)
    assert launcher.read_spec(str(tmp_path / "spec")) == spec
    assert not (tmp_path / "spec.tmp").exists()
