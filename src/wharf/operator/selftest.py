"""The check behind wharf-core's ``helm test``: the CRD, the operator's watch and its RBAC work together.

It creates a small SeldonDeployment, waits until the operator writes a ``status.state`` for it, and
deletes it again. It runs in the operator's own image with the test Pod's ServiceAccount, so an
install needs no third-party test image. Run as ``python -m wharf.operator.selftest``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any, cast

GROUP, VERSION, PLURAL = "machinelearning.seldon.io", "v1", "seldondeployments"


def probe_deployment(name: str, image: str, controller_id: str) -> dict[str, Any]:
    """One model node with no replicas: the operator renders it and reports a state, and no pod starts."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SeldonDeployment",
        "metadata": {"name": name, "labels": {"seldon.io/controller-id": controller_id}},
        "spec": {
            "predictors": [
                {
                    "name": "default",
                    "replicas": 0,
                    "graph": {"name": "model", "type": "MODEL"},
                    "componentSpecs": [{"spec": {"containers": [{"name": "model", "image": image}]}}],
                }
            ]
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wharf.operator.selftest", description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--name", required=True, help="name of the probe SeldonDeployment")
    parser.add_argument(
        "--image",
        required=True,
        help="image of its model container (never pulled: the check only needs the operator's status)",
    )
    parser.add_argument("--controller-id", default="", help="label seldon.io/controller-id of the probe")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for a status")
    args = parser.parse_args(argv)

    from kubernetes import client, config

    config.load_incluster_config()
    api = client.CustomObjectsApi()
    body = probe_deployment(args.name, args.image, args.controller_id)
    try:
        api.create_namespaced_custom_object(GROUP, VERSION, args.namespace, PLURAL, body)
    except client.ApiException as exc:
        print(
            f"cannot create SeldonDeployment {args.namespace}/{args.name}: {exc.status} {exc.reason}", file=sys.stderr
        )
        return 1
    try:
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            # typed `object` by the client: it is the custom object's JSON, decoded
            found = cast(
                "dict[str, Any]", api.get_namespaced_custom_object(GROUP, VERSION, args.namespace, PLURAL, args.name)
            )
            state = (found.get("status") or {}).get("state")
            if state:
                print(f"operator reports state {state} for SeldonDeployment {args.namespace}/{args.name}")
                return 0
            time.sleep(2)
        print(
            f"the operator wrote no status for SeldonDeployment {args.namespace}/{args.name} "
            f"within {args.timeout:.0f} s",
            file=sys.stderr,
        )
        return 1
    finally:
        try:
            api.delete_namespaced_custom_object(GROUP, VERSION, args.namespace, PLURAL, args.name)
        except client.ApiException:
            pass  # already gone: nothing left behind either way


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
