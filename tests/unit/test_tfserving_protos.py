"""Wharf's copy of TF Serving's Predict messages keeps TF Serving's field numbers and names (the wire
contract with a real TF Serving), under the private package so tensorflow-serving-api can coexist."""

from __future__ import annotations

from wharf.protocol.pb import tensor_pb2
from wharf.protocol.pb import tfserving_model_pb2 as model
from wharf.protocol.pb import tfserving_predict_pb2 as predict


def fields(message) -> dict[str, int]:
    return {f.name: f.number for f in message.DESCRIPTOR.fields}


def test_field_numbers_are_tf_servings():
    assert fields(model.ModelSpec) == {"name": 1, "version": 2, "signature_name": 3, "version_label": 4}
    assert fields(predict.PredictRequest) == {"model_spec": 1, "inputs": 2, "output_filter": 3}
    assert fields(predict.PredictResponse) == {"outputs": 1, "model_spec": 2}


def test_tensors_are_the_seldon_protocols_tftensor_type():
    """So a tftensor is copied into a PredictRequest (and out of a PredictResponse) as it is."""
    value_type = predict.PredictRequest.DESCRIPTOR.fields_by_name["inputs"].message_type.fields_by_name["value"]
    assert value_type.message_type is tensor_pb2.TensorProto.DESCRIPTOR
    assert predict.PredictRequest.DESCRIPTOR.full_name == "wharf_tf.serving.PredictRequest"


def test_bytes_written_by_the_copy_read_back_by_field_number():
    request = predict.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "mnist", "predict_images"
    request.inputs["images"].dtype = tensor_pb2.DT_FLOAT
    data = request.SerializeToString()
    # ModelSpec is field 1 (tag 0x0a) holding name (field 1) and signature_name (field 3, tag 0x1a)
    assert data.startswith(b"\x0a\x17\x0a\x05mnist\x1a\x0epredict_images")
