"""oci.fastjson: json's C scanner and encoder without the json module."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.oci import fastjson

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@given(json_values)
def test_fastjson_matches_json(value: Any) -> None:
    text = fastjson.dumps(value)
    assert text == json.dumps(value, ensure_ascii=False)
    compact = fastjson.dumps(value, compact=True)
    assert compact == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert fastjson.loads(text) == json.loads(text)
    assert fastjson.loads(text.encode()) == value or (
        isinstance(value, float) and math.isnan(value)
    )


@pytest.mark.parametrize("bad", ["", "{", "[1,]", "{}x", "nul", "{not json", '"\\x"', "\ufeff{}"])
def test_fastjson_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        fastjson.loads(bad)
