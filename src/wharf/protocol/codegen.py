"""Generate the Python protobuf and gRPC stubs from the shipped ``.proto`` files.

The ``.proto`` files under ``proto/`` are the ones users compile for their own clients, so they
keep the upstream names (``package tensorflow``, ``import "tensorflow/core/framework/..."``).
Our Python stubs must not register ``tensorflow.TensorProto`` in the default descriptor pool:
a model that imports TensorFlow would then fail with a duplicate-symbol error. So the stubs are
generated from a copy whose TensorFlow package is renamed. Field names and numbers are unchanged,
so the wire bytes and the proto-JSON (``tftensor``) are identical.

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
_STUB_FILES = ("prediction_pb2.py", "prediction_pb2_grpc.py", "tensor_pb2.py",
               "tfserving_model_pb2.py", "tfserving_predict_pb2.py")
# TF Serving's messages (the TENSORFLOW_SERVER proxy's client), also under the private package,
# so a process importing tensorflow-serving-api has no duplicate; their tensors are our TensorProto.
_TF_SERVING = {"model.proto": "tfserving_model.proto", "predict.proto": "tfserving_predict.proto"}


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
    return [pkg_dir / "tensor.proto", pkg_dir / "prediction.proto", *(pkg_dir / t for t in _TF_SERVING.values())]


def generate(dest: Path) -> list[Path]:
    """Write the stubs into ``dest`` (the ``wharf/protocol/pb`` folder) and return their paths."""
    from grpc_tools import protoc  # dev-only dependency
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp, "src"), Path(tmp, "out")
        out.mkdir()
        protos = _rewrite_sources(src)
        args = ["protoc", f"-I{src}", f"-I{well_known}", f"--python_out={out}", f"--grpc_python_out={out}"]
        if protoc.main(args + [str(p) for p in protos]) != 0:
            raise RuntimeError("protoc failed on " + ", ".join(str(p) for p in protos))
        generated = out.joinpath(*STUB_PACKAGE.split("."))
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for name in _STUB_FILES:
            target = dest / name
            if name != "tensor_pb2_grpc.py":
                shutil.copyfile(generated / name, target)
                written.append(target)
        return written
