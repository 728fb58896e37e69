from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.analysis.schema import schema_changes

DATATYPES = ["FP32", "FP64", "INT64", "BYTES"]
tensor = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["input-0", "input-1", "output-0", "label", "proba"]),
        "datatype": st.sampled_from(DATATYPES),
        "shape": st.lists(st.sampled_from([-1, 1, 3, 4]), min_size=1, max_size=3),
    }
)
metadata = st.fixed_dictionaries(
    {
        "inputs": st.lists(tensor, max_size=3, unique_by=lambda t: t["name"]),
        "outputs": st.lists(tensor, max_size=3, unique_by=lambda t: t["name"]),
    }
)


def meta(inputs: list[Any], outputs: list[Any]) -> dict[str, Any]:
    return {"name": "m", "inputs": inputs, "outputs": outputs}


def t(name: str, datatype: str = "FP64", shape: list[int] | None = None) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape or [-1, 4]}


@given(metadata)
def test_a_model_is_compatible_with_itself(document: dict[str, Any]) -> None:
    assert schema_changes(document, document) == []


@given(metadata, st.data())
def test_dropping_any_input_or_output_is_found(document: dict[str, Any], data: Any) -> None:
    kinds = [k for k in ("inputs", "outputs") if document[k]]
    if not kinds:
        return
    kind = data.draw(st.sampled_from(kinds))
    dropped = data.draw(st.sampled_from(document[kind]))
    changed = {**document, kind: [x for x in document[kind] if x is not dropped]}
    assert any(dropped["name"] in change for change in schema_changes(document, changed))


def test_what_clients_notice_is_incompatible() -> None:
    stable = meta([t("input-0")], [t("output-0", "INT64", [-1])])
    assert schema_changes(stable, meta([t("features")], [t("output-0", "INT64", [-1])])) == [
        "input features is new: clients do not send it",
        "input input-0 was removed or renamed",
    ]
    assert schema_changes(stable, meta([t("input-0", "FP32")], [t("output-0", "INT64", [-1])])) == [
        "input input-0: datatype FP64 became FP32"
    ]
    narrowed = meta([t("input-0", shape=[-1, 5])], [t("output-0", "INT64", [-1])])
    assert "shape [-1, 4] became [-1, 5]" in schema_changes(stable, narrowed)[0]
    assert schema_changes(stable, meta([t("input-0")], [])) == [
        "output output-0 was removed or renamed"
    ]


def test_what_clients_do_not_notice_is_compatible() -> None:
    stable = meta([t("input-0", shape=[1, 4])], [t("output-0", "INT64", [-1])])
    widened = meta([t("input-0", shape=[-1, 4])], [t("output-0", "INT64", [1]), t("proba")])
    assert schema_changes(stable, widened) == []
