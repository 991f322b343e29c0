"""Generate the Python protobuf and gRPC stubs from the shipped ``.proto`` files.

The ``.proto`` files under ``proto/`` are the ones users compile for their own clients, so they
keep the upstream names (``package tensorflow``, ``import "tensorflow/core/framework/..."``).
Our Python stubs must not register ``tensorflow.TensorProto`` in the default descriptor pool:
a model that imports TensorFlow would then fail with a duplicate-symbol error. So the stubs are
generated from a copy whose TensorFlow package is renamed. Field names and numbers are unchanged,
so the wire bytes and the proto-JSON (``tftensor``) are identical.

The Open Inference Protocol (V2, ``proto/inference/grpc_service.proto``) keeps its package
``inference`` in the stubs too, because gRPC clients call ``/inference.GRPCInferenceService/...``
and server reflection must name it so. To stay out of the way of ``tritonclient`` or ``mlserver``
in the same process (both register ``inference.*`` in the default pool), its stub
``inference_pb2.py`` builds its messages in a descriptor pool of its own.

Each ``*_pb2.py`` comes with the ``*_pb2.pyi`` type stub protoc writes next to it (``--pyi_out``), so
mypy checks the code that builds and reads these messages against their real fields.

Run through ``invoke proto``; ``tests/unit/test_proto_stubs.py`` fails when the committed stubs drift.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

PROTO_DIR = Path(__file__).parent / "proto"
STUB_PACKAGE = "wharf.protocol.pb"
_TF_PRIVATE_PACKAGE = "wharf_tf"
_STUB_FILES = (
    "prediction_pb2.py",
    "prediction_pb2_grpc.py",
    "tensor_pb2.py",
    "tfserving_model_pb2.py",
    "tfserving_predict_pb2.py",
    "inference_pb2.py",
    "prediction_pb2.pyi",
    "tensor_pb2.pyi",
    "tfserving_model_pb2.pyi",
    "tfserving_predict_pb2.pyi",
    "inference_pb2.pyi",
)
# TF Serving's messages (the TENSORFLOW_SERVER proxy's client), also under the private package,
# so a process importing tensorflow-serving-api has no duplicate; their tensors are our TensorProto.
_TF_SERVING = {"model.proto": "tfserving_model.proto", "predict.proto": "tfserving_predict.proto"}
# The V2 proto as users compile it, and the stub made from it (messages only: grpc_h2 routes bytes).
_V2_PROTO = "inference/grpc_service.proto"
_V2_STUB = "inference_pb2.py"
_V2_TYPES = "inference_pb2.pyi"


def _private_pool(generated: str) -> str:
    """Rewrite a generated ``*_pb2.py`` to build its messages in a pool of its own, not the default."""
    default = "_descriptor_pool.Default().AddSerializedFile("
    if generated.count(default) != 1:
        raise RuntimeError("protoc's output changed shape: cannot move the V2 stub to a private descriptor pool")
    generated = generated.replace(default, "_descriptor_pool.DescriptorPool().AddSerializedFile(")
    return generated.replace("'inference.grpc_service_pb2'", f"'{STUB_PACKAGE}.{_V2_STUB[:-3]}'")


def _rewrite_sources(out: Path) -> list[Path]:
    """Copy the protos into ``out`` under the stub package path, TF package renamed."""
    pkg_dir = out.joinpath(*STUB_PACKAGE.split("."))
    pkg_dir.mkdir(parents=True)
    tensor = (PROTO_DIR / "tensorflow/core/framework/tensor.proto").read_text()
    tensor = tensor.replace("package tensorflow;", f"package {_TF_PRIVATE_PACKAGE};")
    (pkg_dir / "tensor.proto").write_text(tensor)
    prediction = (PROTO_DIR / "prediction.proto").read_text()
    prediction = prediction.replace(
        '"tensorflow/core/framework/tensor.proto"', f'"{STUB_PACKAGE.replace(".", "/")}/tensor.proto"'
    )
    prediction = re.sub(r"\btensorflow\.TensorProto\b", f"{_TF_PRIVATE_PACKAGE}.TensorProto", prediction)
    (pkg_dir / "prediction.proto").write_text(prediction)
    stub_dir = STUB_PACKAGE.replace(".", "/")
    for source, target in _TF_SERVING.items():
        text = (PROTO_DIR / "tensorflow_serving/apis" / source).read_text()
        text = text.replace("package tensorflow.serving;", f"package {_TF_PRIVATE_PACKAGE}.serving;")
        text = text.replace('"tensorflow/core/framework/tensor.proto"', f'"{stub_dir}/tensor.proto"')
        text = text.replace('"tensorflow_serving/apis/model.proto"', f'"{stub_dir}/{_TF_SERVING["model.proto"]}"')
        (pkg_dir / target).write_text(text)
    v2 = out / _V2_PROTO
    v2.parent.mkdir(parents=True)
    shutil.copyfile(PROTO_DIR / _V2_PROTO, v2)
    return [pkg_dir / "tensor.proto", pkg_dir / "prediction.proto", *(pkg_dir / t for t in _TF_SERVING.values()), v2]


def generate(dest: Path) -> list[Path]:
    """Write the stubs into ``dest`` (the ``wharf/protocol/pb`` folder) and return their paths."""
    import grpc_tools
    from grpc_tools import protoc  # dev-only dependency

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp, "src"), Path(tmp, "out")
        out.mkdir()
        protos = _rewrite_sources(src)
        args = [
            "protoc",
            f"-I{src}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
        ]
        if protoc.main(args + [str(p) for p in protos]) != 0:
            raise RuntimeError("protoc failed on " + ", ".join(str(p) for p in protos))
        generated = out.joinpath(*STUB_PACKAGE.split("."))
        dest.mkdir(parents=True, exist_ok=True)
        v2_stub = out / _V2_PROTO.replace(".proto", "_pb2.py")
        (dest / _V2_STUB).write_text(_private_pool(v2_stub.read_text()))
        shutil.copyfile(v2_stub.with_suffix(".pyi"), dest / _V2_TYPES)  # names no module: copied as it is
        written = [dest / _V2_STUB, dest / _V2_TYPES]
        for name in _STUB_FILES:
            target = dest / name
            if name not in (_V2_STUB, _V2_TYPES):
                shutil.copyfile(generated / name, target)
                written.append(target)
        return written
