"""The committed protobuf/gRPC stubs are exactly what the pinned generator makes from the protos."""

from __future__ import annotations

import difflib
from importlib import metadata
from pathlib import Path

import pytest

from wharf.protocol import codegen

PB_DIR = Path(codegen.__file__).parent / "pb"
PINNED_GRPC_TOOLS = "1.71.0"  # the version that wrote the committed stubs (see tasks.py `proto`)


def test_committed_stubs_match_regenerated(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is a dev dependency; install it to check the stubs")
    version = metadata.version("grpcio-tools")
    written = codegen.generate(tmp_path)
    assert sorted(p.name for p in written) == sorted(codegen._STUB_FILES)
    for fresh in written:
        committed = PB_DIR / fresh.name
        if fresh.read_bytes() != committed.read_bytes():
            diff = "".join(
                difflib.unified_diff(
                    committed.read_text().splitlines(keepends=True),
                    fresh.read_text().splitlines(keepends=True),
                    f"committed/{fresh.name}",
                    f"regenerated/{fresh.name}",
                    n=1,
                )
            )
            pytest.fail(
                f"{fresh.name} drifted from the protos (grpcio-tools {version}, pinned {PINNED_GRPC_TOOLS}); "
                f"run `invoke proto`:\n{diff[:4000]}"
            )


def test_stubs_do_not_claim_the_tensorflow_package() -> None:
    """A model that imports TensorFlow must not collide with our copy of TensorProto."""
    from google.protobuf import descriptor_pool

    from wharf.protocol.pb import prediction_pb2, tensor_pb2

    pool = descriptor_pool.Default()
    with pytest.raises(KeyError):
        pool.FindMessageTypeByName("tensorflow.TensorProto")
    assert tensor_pb2.TensorProto.DESCRIPTOR.full_name == "wharf_tf.TensorProto"
    field = prediction_pb2.DefaultData.DESCRIPTOR.fields_by_name["tftensor"]
    assert field.message_type.full_name == "wharf_tf.TensorProto"
    # Same field names and numbers as TensorFlow's, so the bytes and proto-JSON are identical.
    numbers = {f.name: f.number for f in tensor_pb2.TensorProto.DESCRIPTOR.fields}
    assert numbers["dtype"] == 1 and numbers["tensor_shape"] == 2 and numbers["tensor_content"] == 4
    assert numbers["float_val"] == 5 and numbers["string_val"] == 8 and numbers["int64_val"] == 10


def test_prediction_proto_field_numbers() -> None:
    """Spot checks of spec section 4.1: the wire contract with the executor and clients."""
    from wharf.protocol.pb import prediction_pb2 as pb

    def fields(msg):
        return {f.name: f.number for f in msg.DESCRIPTOR.fields}

    assert fields(pb.SeldonMessage) == {
        "status": 1,
        "meta": 2,
        "data": 3,
        "binData": 4,
        "strData": 5,
        "jsonData": 6,
        "customData": 7,
    }
    assert fields(pb.DefaultData) == {"names": 1, "tensor": 2, "ndarray": 3, "tftensor": 4}
    assert fields(pb.Tensor) == {"shape": 1, "values": 2}
    assert fields(pb.Meta) == {"puid": 1, "tags": 2, "routing": 3, "requestPath": 4, "metrics": 5}
    assert fields(pb.Feedback) == {"request": 1, "response": 2, "reward": 3, "truth": 4}
    assert fields(pb.Metric) == {"key": 1, "type": 2, "value": 3, "tags": 4}
    assert pb.Status.DESCRIPTOR.fields_by_name["status"].enum_type.values_by_name["FAILURE"].number == 1
    services = set(pb.DESCRIPTOR.services_by_name)
    assert services == {"Generic", "Model", "Router", "Transformer", "OutputTransformer", "Combiner", "Seldon"}
