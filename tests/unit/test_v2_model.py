"""How a Seldon-style class answers V2 inference (wharf.component.v2): inputs in, outputs out."""

from __future__ import annotations

import numpy as np
import pytest

from wharf.component.model import Component
from wharf.component.user_api import SeldonResponse
from wharf.component.v2 import DEFAULT_OUTPUT, V2Model, model_name_for
from wharf.protocol.v2.tensor import InferRequest, RequestedOutput, V2Error, tensor_from_numpy


class Recorder:
    def __init__(self, answer=None):
        self.answer = answer
        self.calls = []

    def predict(self, X, names, meta=None):
        self.calls.append((X, names, meta))
        return X if self.answer is None else self.answer


def _model(user, metadata_outputs=None) -> V2Model:
    if metadata_outputs is not None:
        user.init_metadata = lambda: {"outputs": metadata_outputs}
    return V2Model(Component(user), "m")


def test_one_input_is_the_array_and_parameters_are_meta_tags() -> None:
    user = Recorder()
    x = np.arange(4, dtype=np.int16).reshape(2, 2)
    out = _model(user).infer(InferRequest([tensor_from_numpy("a", x)], id="r7", parameters={"k": 1}))
    got, names, meta = user.calls[0]
    assert got is not None and got.dtype == np.int16 and got.shape == (2, 2)
    assert names == [] and meta == {"tags": {"k": 1}, "puid": "r7"}
    assert [(o.name, o.datatype, o.shape) for o in out.outputs] == [(DEFAULT_OUTPUT, "INT16", (2, 2))]
    assert out.id == "r7" and out.model_name == "m"


def test_several_inputs_are_a_dict_and_a_dict_answer_is_one_output_each() -> None:
    user = Recorder()
    req = InferRequest([tensor_from_numpy("a", np.zeros(2)), tensor_from_numpy("b", np.array(["x"]))])
    out = _model(user).infer(req)
    got, names, _ = user.calls[0]
    assert list(got) == ["a", "b"] and names == ["a", "b"]
    assert [(o.name, o.datatype) for o in out.outputs] == [("a", "FP64"), ("b", "BYTES")]


def test_output_name_from_the_request_then_the_metadata() -> None:
    req = InferRequest([tensor_from_numpy("a", np.zeros(1))], outputs=[RequestedOutput("wanted")])
    assert _model(Recorder()).infer(req).outputs[0].name == "wanted"
    meta_named = _model(Recorder(), [{"name": "scores", "datatype": "FP64", "shape": [-1]}])
    assert meta_named.infer(InferRequest([tensor_from_numpy("a", np.zeros(1))])).outputs[0].name == "scores"
    assert meta_named.metadata()["outputs"] == [{"name": "scores", "datatype": "FP64", "shape": [-1]}]


def test_requested_outputs_filter_and_order_a_dict_answer() -> None:
    user = Recorder({"p": [1.0], "q": [True], "r": "text"})
    req = InferRequest([tensor_from_numpy("a", np.zeros(1))], outputs=[RequestedOutput("r"), RequestedOutput("p")])
    out = _model(user).infer(req)
    assert [(o.name, o.datatype) for o in out.outputs] == [("r", "BYTES"), ("p", "FP64")]
    req.outputs = [RequestedOutput("nope")]
    with pytest.raises(V2Error, match="output 'nope' was requested but the model returned 'p', 'q', 'r'"):
        _model(user).infer(req)


def test_seldon_response_tags_and_class_tags_are_response_parameters() -> None:
    user = Recorder(SeldonResponse(np.ones(1), tags={"from": "response"}))
    user.tags = lambda: {"from": "tags()", "class": "yes"}
    out = _model(user).infer(InferRequest([tensor_from_numpy("a", np.zeros(1))]))
    assert out.parameters == {"from": "response", "class": "yes"}


def test_a_class_without_predict_is_501_and_an_answer_without_a_datatype_is_500() -> None:
    class Raw:
        def predict_raw(self, msg):
            return msg

    with pytest.raises(V2Error) as err:
        V2Model(Component(Raw()), "m").infer(InferRequest([tensor_from_numpy("a", np.zeros(1))]))
    assert err.value.status_code == 501
    with pytest.raises(V2Error) as err:
        _model(Recorder(np.array([1 + 2j]))).infer(InferRequest([tensor_from_numpy("a", np.zeros(1))]))
    assert err.value.status_code == 500 and "complex128 has no V2 datatype" in err.value.message


def test_unknown_model_or_version_is_404() -> None:
    model = _model(Recorder())
    model.versions = ["1"]
    model.check("m", "1")
    for name, version in (("x", None), ("m", "2")):
        with pytest.raises(V2Error) as err:
            model.check(name, version)
        assert err.value.status_code == 404


def test_model_name_flag_then_env_then_class(monkeypatch) -> None:
    monkeypatch.delenv("WHARF_MODEL_NAME", raising=False)
    monkeypatch.delenv("MLSERVER_MODEL_NAME", raising=False)
    assert model_name_for(Recorder()) == "Recorder"
    monkeypatch.setenv("MLSERVER_MODEL_NAME", "node-a")
    assert model_name_for(Recorder()) == "node-a"
    monkeypatch.setenv("WHARF_MODEL_NAME", "chosen")
    assert model_name_for(Recorder()) == "chosen"
    assert model_name_for(Recorder(), "flag") == "flag"
