"""Component: which user method answers, what it is given, and what comes back (no sockets)."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import json_format

from wharf.component.model import UNSET_IMAGE, Component, UnitInfo
from wharf.component.user_api import SeldonComponent, SeldonNotImplementedError, SeldonResponse
from wharf.component.wire import JSON, PROTO
from wharf.protocol.errors import MicroserviceError
from wharf.protocol.pb import prediction_pb2 as pb

ND = {"data": {"ndarray": [[1, 2]]}}


class Sink:
    def __init__(self):
        self.records: list[tuple[str, list]] = []
        self.rewards: list[float] = []

    def record(self, method, metrics):
        self.records.append((method, metrics))

    def feedback(self, reward):
        self.rewards.append(reward)


def proto(d: dict) -> pb.SeldonMessage:
    return json_format.ParseDict(d, pb.SeldonMessage())


def as_dict(msg) -> dict:
    return json_format.MessageToDict(msg)


# --- dispatch precedence ---------------------------------------------------------------------


class AllLevels:
    def __init__(self):
        self.calls = []

    def predict_rest(self, msg):
        self.calls.append("rest")
        return {"strData": "rest"}

    def predict_raw(self, msg):
        self.calls.append("raw")
        return {"strData": "raw"}

    def predict(self, X, names):
        self.calls.append("plain")
        return "plain"


def test_rest_beats_raw_beats_plain():
    user = AllLevels()
    c = Component(user)
    assert c.predict(ND, JSON) == {"strData": "rest"}  # returned untouched
    out = c.predict(proto(ND), PROTO)  # no predict_grpc: _rest is only for non-proto input
    assert out == pb.SeldonMessage(strData="raw")  # a dict from _raw is turned into the wire's message
    assert user.calls == ["rest", "raw"]


def test_grpc_only_for_proto_input():
    class G:
        def predict_grpc(self, msg):
            assert isinstance(msg, pb.SeldonMessage)
            return pb.SeldonMessage(strData="grpc")

        def predict(self, X, names):
            return "plain"

    c = Component(G())
    assert c.predict(proto(ND), PROTO).strData == "grpc"
    assert c.predict({"strData": "x"}, JSON)["strData"] == "plain"


def test_raw_falls_back_to_plain_on_not_implemented():
    class R:
        def predict_raw(self, msg):
            raise SeldonNotImplementedError("no raw")

        def predict(self, X, names):
            return X * 10

    out = Component(R()).predict(ND, JSON)
    assert out["data"]["ndarray"].tolist() == [[10, 20]]


def test_raw_errors_propagate():
    class R:
        def predict_raw(self, msg):
            raise KeyError("oops")

        def predict(self, X, names):  # pragma: no cover - must not be reached
            raise AssertionError

    with pytest.raises(KeyError):
        Component(R()).predict(ND, JSON)


def test_raw_gets_the_message_as_sent():
    seen = []

    class R:
        def transform_input_raw(self, msg):
            seen.append(msg)
            return msg

    c = Component(R())
    assert c.transform_input(ND, JSON) is ND
    p = proto(ND)
    assert c.transform_input(p, PROTO) is p
    assert seen == [ND, p]


# --- SeldonNotImplementedError fallbacks -----------------------------------------------------


class Refuses:
    def predict(self, X, names):
        raise SeldonNotImplementedError("later")

    transform_input = transform_output = predict

    def send_feedback(self, *a, **kw):
        raise SeldonNotImplementedError("later")

    def health_status(self):
        raise SeldonNotImplementedError("later")

    def route(self, X, names):
        raise SeldonNotImplementedError("later")

    def aggregate(self, Xs, names):
        raise SeldonNotImplementedError("later")


def test_not_implemented_fallbacks():
    c = Component(Refuses())
    out = c.predict(ND, JSON)
    assert out["data"]["ndarray"].tolist() == [] and out["data"]["names"] == []  # built from []
    assert c.transform_input(ND, JSON)["data"]["ndarray"].tolist() == [[1, 2]]  # identity
    assert c.transform_output({"strData": "s"}, JSON)["strData"] == "s"  # identity
    assert c.send_feedback({"request": ND}, JSON)["data"] == {"ndarray": []}
    assert c.health_status(JSON)["strData"] == "not implemented - assuming healthy"
    # route and aggregate have no fallback upstream: the user's own not-implemented error answers (400)
    with pytest.raises(MicroserviceError, match="^later$") as info:
        c.route(ND, JSON)
    assert info.value.status_code == 400
    with pytest.raises(MicroserviceError, match="^later$"):
        c.aggregate({"seldonMessages": [ND]}, JSON)


def test_missing_methods():
    c = Component(object())
    assert c.predict(ND, JSON)["data"]["ndarray"].tolist() == []
    assert c.transform_output(ND, JSON)["data"]["ndarray"].tolist() == [[1, 2]]
    assert c.health_status(JSON) == {"strData": "healthy", "meta": {}}
    with pytest.raises(MicroserviceError, match="Route not defined"):
        c.route(ND, JSON)
    with pytest.raises(MicroserviceError, match="Aggregate not defined"):
        c.aggregate([ND], JSON)


def test_seldon_component_base_stubs_behave_as_not_implemented():
    class Sub(SeldonComponent):
        pass

    c = Component(Sub())
    assert c.predict(ND, JSON)["data"]["ndarray"].tolist() == []
    assert c.transform_input(ND, JSON)["data"]["ndarray"].tolist() == [[1, 2]]
    # upstream calls the base stub, which raises: "not implemented", not "healthy"
    assert c.health_status(JSON)["strData"] == "not implemented - assuming healthy"
    assert c.predict(ND, JSON)["meta"] == {}  # the tags()/metrics() stubs add nothing
    assert c.metadata["name"] == ""


def test_upstream_shaped_not_implemented_is_recognised():
    class SeldonMicroserviceException(Exception):
        status_code = 400

    class SeldonNotImplementedError(SeldonMicroserviceException):  # noqa: N818 - upstream's name
        pass

    class U:
        def transform_input(self, X, names):
            raise SeldonNotImplementedError("x")

    assert Component(U()).transform_input({"strData": "same"}, JSON)["strData"] == "same"


# --- meta passing and TypeError --------------------------------------------------------------


def test_meta_only_when_the_signature_accepts_it():
    seen = {}

    class NoMeta:
        def predict(self, X, features_names):
            seen["no"] = features_names
            return X

    class WithMeta:
        def predict(self, X, names, meta=None):
            seen["meta"] = meta
            return X

    class Kwargs:
        def transform_input(self, X, names, **kwargs):
            seen["kwargs"] = kwargs
            return X

    msg = {"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}, "meta": {"puid": "p", "tags": {"t": 1}}}
    Component(NoMeta()).predict(msg, JSON)
    Component(WithMeta()).predict(msg, JSON)
    Component(Kwargs()).transform_input(msg, JSON)
    assert seen == {
        "no": ["a", "b"],
        "meta": {"puid": "p", "tags": {"t": 1}},
        "kwargs": {"meta": {"puid": "p", "tags": {"t": 1}}},
    }


def test_type_error_inside_user_code_is_not_retried():
    calls = []

    class Buggy:
        def predict(self, X, names, meta=None):
            calls.append(meta)
            return len(None)  # TypeError from inside user code

    with pytest.raises(TypeError):
        Component(Buggy()).predict({"strData": "x", "meta": {"puid": "p"}}, JSON)
    assert calls == [{"puid": "p"}]  # upstream would call a second time without meta


def test_unreadable_signature_falls_back_to_retry_without_meta():
    calls = []

    class Callable2:
        __signature__ = property(lambda self: (_ for _ in ()).throw(ValueError("no signature")))

        def __call__(self, X, names):
            calls.append(X)
            return X

    class U:
        pass

    u = U()
    fn = Callable2()
    u.predict = fn
    out = Component(u).predict({"strData": "s"}, JSON)
    assert out["strData"] == "s" and calls == ["s"]


# --- route -----------------------------------------------------------------------------------


class Router:
    def __init__(self, value):
        self.value = value

    def route(self, X, names, meta=None):
        return self.value


@pytest.mark.parametrize("value", [0, 2, -1, -2, np.int64(1), SeldonResponse(3, tags={"r": 1})])
def test_route_accepts_ints(value):
    out = Component(Router(value)).route(ND, JSON)
    n = value.data if isinstance(value, SeldonResponse) else int(value)
    assert out["data"]["ndarray"].tolist() == [[n]] and out["data"]["names"] == ["t:0"]


@pytest.mark.parametrize("value, shown", [(True, "True"), (1.0, "1.0"), ("1", "1"), ([1], "[1]"), (None, "None")])
def test_route_rejects_non_ints(value, shown):
    with pytest.raises(MicroserviceError) as info:
        Component(Router(value)).route(ND, JSON)
    assert info.value.message == f"Routing response must be int but got {shown}"
    assert info.value.status_code == 400


def test_route_mirrors_tensor_and_keeps_only_the_puid():
    msg = {
        "data": {"tensor": {"shape": [1, 2], "values": [1, 2]}},
        "meta": {"puid": "p", "tags": {"t": 1}, "requestPath": {"x": "y"}},
    }
    out = Component(Router(1)).route(msg, JSON)
    assert out["data"]["tensor"]["shape"] == [1, 1] and out["meta"] == {"puid": "p"}
    out = Component(Router(1)).route(proto(msg), PROTO)
    assert as_dict(out) == {
        "data": {"names": ["t:0"], "tensor": {"shape": [1, 1], "values": [1.0]}},
        "meta": {"puid": "p"},
    }


# --- aggregate -------------------------------------------------------------------------------


class Summer:
    def __init__(self):
        self.seen = None

    def aggregate(self, Xs, names_list):
        self.seen = (Xs, names_list)
        return np.sum([np.asarray(x, dtype=float) for x in Xs], axis=0)


def test_aggregate_merges_children_meta():
    user = Summer()
    msg = {
        "seldonMessages": [
            {
                "data": {"names": ["a", "b"], "tensor": {"shape": [1, 2], "values": [1, 2]}},
                "meta": {"tags": {"x": 1, "y": 1}, "requestPath": {"m1": "i1"}, "metrics": [{"key": "k1", "value": 1}]},
            },
            {
                "data": {"ndarray": [[3, 4]]},
                "meta": {
                    "puid": "second",
                    "tags": {"y": 2},
                    "requestPath": {"m2": "i2"},
                    "metrics": [{"key": "k2", "value": 2}],
                },
            },
        ]
    }
    out = Component(user, UnitInfo(unit_id="comb", image="c:1")).aggregate(msg, JSON)
    assert user.seen[1] == [["a", "b"], []]
    assert "tensor" in out["data"]  # the first message's kind decides
    assert out["meta"] == {
        "tags": {"x": 1, "y": 2},
        "requestPath": {"comb": "c:1", "m1": "i1", "m2": "i2"},
        "metrics": [{"key": "k1", "value": 1}, {"key": "k2", "value": 2}],
    }
    # the puid comes from the first message only, as upstream
    msg["seldonMessages"][0]["meta"]["puid"] = "first"
    assert Component(Summer()).aggregate(msg, JSON)["meta"]["puid"] == "first"


def test_aggregate_proto_and_empty_list():
    lst = json_format.ParseDict({"seldonMessages": [ND, ND]}, pb.SeldonMessageList())
    out = Component(Summer()).aggregate(lst, PROTO)
    assert as_dict(out)["data"]["ndarray"] == [[2.0, 4.0]]
    with pytest.raises(MicroserviceError, match="no messages"):
        Component(Summer()).aggregate({"seldonMessages": []}, JSON)


# --- feedback --------------------------------------------------------------------------------


class Learner:
    def __init__(self):
        self.seen = None

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        self.seen = dict(features=features, names=feature_names, reward=reward, truth=truth, routing=routing)


FEEDBACK = {
    "request": {"data": {"names": ["f"], "ndarray": [[1, 2]]}, "meta": {"puid": "p", "tags": {"t": 1}}},
    "response": {"meta": {"routing": {"0": 4, "unit-a": 7}}},
    "reward": 0.1,
    "truth": {"data": {"ndarray": [[1]]}},
}


@pytest.mark.parametrize("unit_id, expected", [(None, 4), ("unit-a", 7), ("unit-b", None)])
def test_feedback_routing_is_looked_up_by_unit_id(unit_id, expected):
    user = Learner()
    Component(user, UnitInfo(unit_id=unit_id)).send_feedback(FEEDBACK, JSON)
    assert user.seen["routing"] == expected


def test_feedback_goes_through_the_proto_like_upstream():
    user, sink = Learner(), Sink()
    out = Component(user, sink=sink).send_feedback(FEEDBACK, JSON)
    assert user.seen["features"].dtype == np.float64 and user.seen["features"].tolist() == [[1.0, 2.0]]
    assert user.seen["truth"].tolist() == [[1.0]] and user.seen["names"] == ["f"]
    assert user.seen["reward"] == float(np.float32(0.1))  # Feedback.reward is a float32
    assert sink.rewards == [float(np.float32(0.1))]
    # proto-JSON answer: empty names omitted, only the request's puid in meta
    assert out == {"data": {"ndarray": []}, "meta": {"puid": "p"}}


def test_feedback_non_data_request_and_executor_off():
    user, sink = Learner(), Sink()
    c = Component(user, UnitInfo(executor_enabled=False), sink)
    out = c.send_feedback({"request": {"strData": "s"}, "reward": 1}, JSON)
    assert user.seen["features"].size == 0 and user.seen["truth"].size == 0 and user.seen["routing"] is None
    assert sink.rewards == []
    assert out == {"data": {"tensor": {"shape": [0]}}, "meta": {}}  # numeric, request had no data: tensor
    assert Component(Learner(), sink=sink).send_feedback({}, JSON)["meta"] == {}
    assert sink.rewards == []  # zero reward is not counted


def test_feedback_raw_always_gets_the_proto_and_errors():
    got = []

    class Raw:
        def send_feedback_raw(self, fb):
            got.append(fb)
            return {"strData": "ok"}

    assert Component(Raw()).send_feedback(FEEDBACK, JSON) == {"strData": "ok"}
    assert isinstance(got[0], pb.Feedback) and got[0].request.data.names == ["f"]
    with pytest.raises(MicroserviceError, match=r"^Invalid JSON: Failed to parse reward field"):
        Component(Learner()).send_feedback({"reward": "x"}, JSON)
    with pytest.raises(MicroserviceError, match=r"^Invalid JSON: .*expected a Feedback object"):
        Component(Learner()).send_feedback([1], JSON)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"data": {"ndarray": [[1]]}}, '"data" at "Feedback"'),  # a SeldonMessage sent by mistake
        ({"request": {"data": {"ndarray": [1]}, "bogus": 1}, "reward": 1}, '"bogus" at "Feedback.request"'),
        ({"truth": {"strData": "x", "extra": 1}}, '"extra" at "Feedback.truth"'),
    ],
)
def test_feedback_with_fields_feedback_does_not_have_is_refused(body, field):
    """Upstream's protobuf parse refuses unknown fields (400); the answer names the field."""
    called = []

    class Learner2:
        def send_feedback(self, *args, **kwargs):
            called.append(args)

    with pytest.raises(MicroserviceError, match="^Invalid JSON: ") as info:
        Component(Learner2()).send_feedback(body, JSON)
    assert field in info.value.message and info.value.status_code == 400
    assert info.value.reason == "MICROSERVICE_BAD_DATA" and called == []


def test_feedback_proto_wire():
    fb = json_format.ParseDict(FEEDBACK, pb.Feedback())
    user = Learner()
    out = Component(user).send_feedback(fb, PROTO)
    assert isinstance(out, pb.SeldonMessage) and out.meta.puid == "p" and user.seen["routing"] == 4


# --- health, tags, metrics ------------------------------------------------------------------


def test_health_status_variants():
    class H:
        def health_status(self):
            return [[1, 2]]

    out = Component(H()).health_status(JSON)
    assert "tensor" in out["data"] and out["data"]["names"] == ["t:0", "t:1"]  # no request: tensor

    class Raw:
        def health_status_raw(self):
            return {"strData": "raw-ok"}

    assert Component(Raw()).health_status(JSON) == {"strData": "raw-ok"}
    assert Component(object()).health_status(PROTO).strData == "healthy"


class Tagged:
    def __init__(self, metrics=None, runtime=None):
        self._metrics = metrics if metrics is not None else [{"type": "COUNTER", "key": "c", "value": 1}]
        self._runtime = runtime

    def predict(self, X, names):
        if self._runtime is not None:
            return SeldonResponse(X, tags={"b": "runtime"}, metrics=self._runtime)
        return X

    def tags(self):
        return {"a": "user", "b": "user"}

    def metrics(self):
        return self._metrics

    class_names = ["x", "y"]  # deprecated plain attribute still works


def test_tags_metrics_and_class_names():
    sink = Sink()
    msg = {"data": {"ndarray": [[1, 2]]}, "meta": {"tags": {"a": "req", "r": 1}, "metrics": [{"key": "m"}]}}
    out = Component(Tagged(runtime=[{"type": "GAUGE", "key": "g", "value": 2}]), sink=sink).predict(msg, JSON)
    assert out["data"]["names"] == ["x", "y"]
    assert out["meta"]["tags"] == {"a": "user", "b": "runtime", "r": 1}
    assert out["meta"]["metrics"] == [
        {"key": "m"},
        {"type": "COUNTER", "key": "c", "value": 1},
        {"type": "GAUGE", "key": "g", "value": 2},
    ]
    assert sink.records == [
        ("predict", [{"type": "COUNTER", "key": "c", "value": 1}, {"type": "GAUGE", "key": "g", "value": 2}])
    ]


def test_include_metrics_flag():
    sink = Sink()
    msg = {"strData": "s", "meta": {"metrics": [{"key": "from-request"}]}}
    c = Component(Tagged(), UnitInfo(include_metrics_in_response=False), sink)
    out = c.predict(msg, JSON)
    assert out["meta"]["metrics"] == [{"key": "from-request"}]  # the request's are still echoed
    assert sink.records == [("predict", [{"type": "COUNTER", "key": "c", "value": 1}])]  # but recorded

    class Raw:
        def route_raw(self, msg):
            return {"strData": "r", "meta": {"metrics": [{"type": "GAUGE", "key": "g", "value": 1}]}}

    sink = Sink()
    out = Component(Raw(), UnitInfo(include_metrics_in_response=False), sink).route(ND, JSON)
    assert out == {"strData": "r", "meta": {}} and sink.records == [
        ("router", [{"type": "GAUGE", "key": "g", "value": 1}])
    ]
    out = Component(Raw(), UnitInfo(include_metrics_in_response=True), Sink()).route(ND, JSON)
    assert out["meta"]["metrics"] == [{"type": "GAUGE", "key": "g", "value": 1}]

    class RawProto:
        def predict_raw(self, msg):
            return pb.SeldonMessage(strData="p", meta=pb.Meta(metrics=[pb.Metric(key="c", value=1)]))

    sink = Sink()
    out = Component(RawProto(), UnitInfo(include_metrics_in_response=False), sink).predict(proto(ND), PROTO)
    assert len(out.meta.metrics) == 0 and sink.records == [("predict", [{"key": "c", "value": 1.0, "type": "COUNTER"}])]


@pytest.mark.parametrize(
    "metrics, message",
    [
        (
            {"key": "a"},
            r"^Bad metric created during request: \{\"key\": \"a\"\}: metrics\(\): expected a list of dicts, got dict",
        ),
        ([{"key": "a", "value": 1}], r": metrics\(\)\[0\]: needs keys key, value and type"),
        (["c"], r": metrics\(\)\[0\]: needs keys"),
        (
            [{"type": "COUNTER", "key": "ok", "value": 1}, {"type": "HISTO", "key": "h", "value": 1}],
            r": metrics\(\)\[1\] \(h\): type 'HISTO' is not one of COUNTER, GAUGE, TIMER",
        ),
        ([{"type": "GAUGE", "key": "g", "value": "high"}], r": metrics\(\)\[0\] \(g\): value 'high' is not a number"),
        (
            [{"type": "GAUGE", "key": "g", "value": 1, "tags": ["a"]}],
            r": metrics\(\)\[0\] \(g\): tags must be a mapping",
        ),
    ],
)
def test_custom_metric_validation_errors(metrics, message):
    with pytest.raises(MicroserviceError, match=message) as info:
        Component(Tagged(metrics=metrics)).predict(ND, JSON)
    assert info.value.message.startswith("Bad metric created during request: ")  # upstream's text first
    assert info.value.status_code == 500 and info.value.reason == "MICROSERVICE_BAD_METRIC"


def test_runtime_metrics_are_validated_too():
    with pytest.raises(
        MicroserviceError, match=r"^Bad metric created during request: .*: SeldonResponse\.metrics\[0\] \(k\)"
    ) as info:
        Component(Tagged(runtime=[{"type": "BAD", "key": "k", "value": 1}])).predict(ND, JSON)
    assert info.value.reason == "MICROSERVICE_BAD_METRIC"


# --- request path, unknown results, load -----------------------------------------------------


def test_request_path_needs_a_unit_id():
    msg = {"strData": "s", "meta": {"requestPath": {"up": "u:1"}}}
    assert Component(object(), UnitInfo(unit_id="me", image="img:2")).predict(msg, JSON)["meta"] == {
        "requestPath": {"me": "img:2", "up": "u:1"}
    }
    assert Component(object(), UnitInfo()).predict(msg, JSON)["meta"] == {"requestPath": {"up": "u:1"}}
    assert Component(object(), UnitInfo(unit_id="me")).predict({"strData": "s"}, JSON)["meta"] == {
        "requestPath": {"me": UNSET_IMAGE}
    }


def test_unknown_result_type_is_a_bad_data_error():
    class F:
        def predict(self, X, names):
            return 1.5

    with pytest.raises(
        MicroserviceError,
        match=r"^Unknown data type returned as payload \(must be list or np "
        r"array\):1\.5: the method returned float",
    ) as info:
        Component(F()).predict(ND, JSON)
    assert info.value.status_code == 400


def test_load_swallows_not_implemented_only():
    class A:
        def load(self):
            raise NotImplementedError

    class B:
        def load(self):
            raise AttributeError("x")

    class C:
        def load(self):
            raise RuntimeError("broken")

    Component(A()).load()
    Component(B()).load()
    Component(object()).load()
    with pytest.raises(RuntimeError):
        Component(C()).load()


# --- metadata --------------------------------------------------------------------------------


class Meta:
    def __init__(self, value=None, exc=None):
        self.value, self.exc = value, exc

    def init_metadata(self):
        if self.exc:
            raise self.exc
        return self.value


def test_metadata_defaults_from_image():
    assert Component(object(), UnitInfo(image="repo/iris:0.3")).metadata == {
        "name": "repo/iris",
        "versions": ["0.3"],
        "platform": "",
        "inputs": [],
        "outputs": [],
        "custom": {},
    }
    assert Component(object(), UnitInfo(image="registry:5000/iris:1")).metadata["name"] == "registry:5000/iris"
    # PREDICTIVE_UNIT_IMAGE unset: upstream serves empty strings
    unset = Component(object(), UnitInfo()).metadata
    assert unset["name"] == "" and unset["versions"] == [""]


def test_metadata_merge_order():
    user = Meta({"name": "user", "platform": "sk", "custom": {"a": "1"}})
    env = "platform: from-env\ncustom:\n  b: '2'\n"
    meta = Component(user, UnitInfo(image="i:1", metadata_env=env)).metadata
    assert meta == {
        "name": "user",
        "versions": ["1"],
        "platform": "from-env",
        "inputs": [],
        "outputs": [],
        "custom": {"b": "2"},
    }  # MODEL_METADATA replaces keys whole, over init_metadata()


@pytest.mark.parametrize(
    "io",
    [
        [{"messagetype": "tensor", "schema": {"names": ["a"], "shape": [1]}}],
        [{"messagetype": "jsonData", "schema": {"type": "object"}}],
        [{"messagetype": "strData"}, {"messagetype": "binData"}],
        [{"messagetype": "myProto", "schema": {"any": "thing"}}],
        [{"name": "x", "datatype": "FP32", "shape": [1, 4]}],
        [{"name": "x", "datatype": "FP32"}],  # V2 fields are all optional upstream
        [{}],
    ],
)
def test_metadata_valid_inputs(io):
    c = Component(Meta({"inputs": io, "outputs": io}))
    assert c.require_metadata()["inputs"] == io


@pytest.mark.parametrize(
    "value",
    [
        {"inputs": [{"messagetype": "strData", "schema": {}}]},  # closed objects, as upstream
        {"inputs": [{"messagetype": "tensor", "schema": {"names": ["a"], "dtype": "f"}}]},
        {"inputs": [{"name": "x", "datatype": "FLOAT"}]},
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": ["a"]}]},
        {"custom": {"n": 1}},
        {"versions": "v1"},
        {"author": "me"},
    ],
)
def test_metadata_invalid_is_a_500_on_request(value):
    c = Component(Meta(value))
    assert c.metadata is None and c.metadata_error
    with pytest.raises(MicroserviceError, match="Model metadata unavailable") as info:
        c.require_metadata()
    assert info.value.status_code == 500 and info.value.reason == "MICROSERVICE_BAD_METADATA"


def test_metadata_tolerates_what_upstream_ignores():
    assert Component(Meta(exc=SeldonNotImplementedError("x"))).metadata["name"] == ""
    assert Component(Meta(["not", "a", "dict"])).metadata["inputs"] == []
    assert Component(object(), UnitInfo(metadata_env="{broken: [")).metadata["name"] == ""
    assert Component(object(), UnitInfo(metadata_env="- a list")).metadata["name"] == ""


def test_metadata_method_failure_is_reported_on_request():
    c = Component(Meta(exc=RuntimeError("db down")))
    with pytest.raises(MicroserviceError, match="init_metadata\\(\\) failed: db down"):
        c.require_metadata()
