"""The ``seldon_core`` compatibility layer: the import alias, and upstream-shaped objects honoured.

Alias tests run in a subprocess so this process's ``sys.modules`` stays clean.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wharf.compat.seldon_core.metrics import create_counter, create_gauge, create_timer
from wharf.component.model import Component
from wharf.component.user_api import is_not_implemented, is_seldon_response
from wharf.component.wire import JSON
from wharf.protocol.errors import MicroserviceError, as_microservice_error


def run_python(code: str, extra_path: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.skipif(
    importlib.util.find_spec("seldon_core") is not None,
    reason="the real seldon_core is installed here, so the alias is not used",
)
def test_alias_installed_when_seldon_core_is_absent():
    result = run_python("""
        import sys
        from wharf.compat import install_seldon_core_alias
        assert "seldon_core" not in sys.modules
        assert install_seldon_core_alias() is True
        assert install_seldon_core_alias() is True  # idempotent

        import seldon_core
        from seldon_core.user_model import SeldonComponent, SeldonNotImplementedError, SeldonResponse
        from seldon_core.flask_utils import SeldonMicroserviceException
        from seldon_core.metrics import create_counter
        import wharf.component.user_api as api
        import wharf.protocol.errors as errors
        assert SeldonComponent is api.SeldonComponent and SeldonResponse is api.SeldonResponse
        assert SeldonNotImplementedError is api.SeldonNotImplementedError
        assert SeldonMicroserviceException is errors.MicroserviceError
        assert seldon_core.SeldonComponent is SeldonComponent
        assert create_counter("k", 1) == {"type": "COUNTER", "key": "k", "value": 1}

        # upstream's constructor signature and serialisation
        exc = SeldonMicroserviceException("bad input", status_code=422, reason="MY_REASON")
        assert exc.to_dict() == {"status": {"status": 1, "info": "bad input", "code": -1, "reason": "MY_REASON"}}
        assert SeldonMicroserviceException("x").status_code == 400
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_real_seldon_core_is_left_alone(tmp_path):
    fake = tmp_path / "seldon_core"
    fake.mkdir()
    (fake / "__init__.py").write_text("MARK = 'upstream'\n")
    result = run_python(
        """
        import sys
        from wharf.compat import install_seldon_core_alias
        assert install_seldon_core_alias() is False
        assert "seldon_core" not in sys.modules  # not imported, not replaced
        import seldon_core
        assert seldon_core.MARK == "upstream"
        print("ok")
    """,
        extra_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# --- upstream-shaped classes, as a model sees them when the real seldon_core is installed ------


class SeldonMicroserviceException(Exception):
    """Shaped like seldon_core.flask_utils.SeldonMicroserviceException (1.19.0)."""

    status_code = 400

    def __init__(self, message, status_code=None, payload=None, reason="MICROSERVICE_BAD_DATA"):
        Exception.__init__(self)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.payload = payload
        self.reason = reason

    def to_dict(self):
        return {"status": {"status": 1, "info": self.message, "code": -1, "reason": self.reason}}


class SeldonNotImplementedError(SeldonMicroserviceException):  # noqa: N818 - upstream's name
    status_code = 400

    def __init__(self, message):
        SeldonMicroserviceException.__init__(self, message)


class SeldonResponse:
    def __init__(self, data, tags=None, metrics=None):
        self.data = data
        self.tags = tags if tags is not None else {}
        self.metrics = metrics if metrics is not None else []


def test_upstream_exception_keeps_status_and_reason():
    err = as_microservice_error(SeldonMicroserviceException("custom failure", status_code=422, reason="MY_REASON"))
    assert isinstance(err, MicroserviceError)
    assert (err.message, err.status_code, err.reason) == ("custom failure", 422, "MY_REASON")
    assert err.to_dict() == {"status": {"status": 1, "info": "custom failure", "code": -1, "reason": "MY_REASON"}}
    err = as_microservice_error(SeldonMicroserviceException("plain"))
    assert (err.status_code, err.reason) == (400, "MICROSERVICE_BAD_DATA")


def test_other_exceptions():
    ours = MicroserviceError("x", 404)
    assert as_microservice_error(ours) is ours
    err = as_microservice_error(ValueError("boom"))
    assert (err.message, err.status_code, err.reason) == ("boom", 500, "MICROSERVICE_INTERNAL_ERROR")

    class HasStatusOnly(Exception):
        status_code = 418  # no to_dict(): not upstream-shaped

    assert as_microservice_error(HasStatusOnly("t")).status_code == 500


def test_upstream_exception_raised_in_user_code():
    class Model:
        def predict(self, X, names):
            raise SeldonMicroserviceException("nope", status_code=409, reason="CONFLICT")

    with pytest.raises(SeldonMicroserviceException) as info:
        Component(Model()).predict({"strData": "x"}, JSON)
    err = as_microservice_error(info.value)
    assert (err.status_code, err.reason, err.message) == (409, "CONFLICT", "nope")


def test_upstream_not_implemented_and_response_are_recognised():
    assert is_not_implemented(SeldonNotImplementedError("x"))
    assert not is_not_implemented(SeldonMicroserviceException("x"))
    assert is_seldon_response(SeldonResponse([1]))

    class Model:
        def predict(self, X, names):
            raise SeldonNotImplementedError("not yet")

        def transform_input(self, X, names):
            return SeldonResponse(X, tags={"upstream": True}, metrics=[{"type": "GAUGE", "key": "g", "value": 1}])

    c = Component(Model())
    assert c.predict({"strData": "x"}, JSON)["data"]["tensor"]["shape"] == [0]  # fell back to []
    out = c.transform_input({"strData": "x"}, JSON)
    assert out == {
        "strData": "x",
        "meta": {"tags": {"upstream": True}, "metrics": [{"type": "GAUGE", "key": "g", "value": 1}]},
    }


def test_metric_helpers():
    assert create_counter("c", 1) == {"type": "COUNTER", "key": "c", "value": 1}
    assert create_gauge("g", 2.5, {"a": "b"}) == {"type": "GAUGE", "key": "g", "value": 2.5, "tags": {"a": "b"}}
    assert create_timer("t", 12) == {"type": "TIMER", "key": "t", "value": 12}


def test_storage_download_of_local_paths_behaves_as_upstream(tmp_path):
    """1.19's contract: no out_dir gives the path back; an out_dir gets symlinks and is returned."""
    from wharf.compat.seldon_core.storage import Storage

    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.npy").write_bytes(b"w")
    assert Storage.download(str(model)) == str(model)
    assert Storage.download(f"file://{model}") == str(model)
    out = tmp_path / "out"
    assert Storage.download(str(model), str(out)) == str(out)
    assert (out / "weights.npy").is_symlink() and (out / "weights.npy").read_bytes() == b"w"
    with pytest.raises(RuntimeError, match="does not exist"):
        Storage.download(str(tmp_path / "missing"))
