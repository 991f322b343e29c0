#!/usr/bin/env python3
"""Cold start of a prepackaged server on a real node: SeldonDeployment applied -> pod Ready.

`implementation: SKLEARN_SERVER` with a `modelUri` in S3 (moto, on the node's address), the
operator and images built from this checkout, on the harness's real kubelet node
(wharf.testing.node; needs root, like `invoke cluster.up --kubelet`). For each model size
(5 MB and 200 MB by default: a k-nearest-neighbours classifier, whose pickle holds its training
data, so the size is real model state) and each of ``--runs`` rounds, it applies the
SeldonDeployment in a fresh namespace and polls the pod every 0.1 s:

- ``pod``: the Deployment's pod exists (operator + controller-manager + scheduler);
- ``fetched``: the storage initializer has exited 0 (the model is in /mnt/models);
- ``ready``: the pod's Ready condition is True. Wharf keeps upstream's readiness probe
  (initialDelaySeconds 20, period 5), so this is at least ~20 s whatever the server does;
- ``server``: the model container's own readiness (``containerStatuses[].ready``). With
  upstream's probe (initialDelaySeconds 20) it is bound by the delay as well; the ``1s/1s`` rows set
  the model container's probe to 1 s / 1 s in componentSpecs, which shows the time the server
  itself needs. The orchestrator's probe is fixed (as upstream's executor's: 20 s), so ``ready``
  stays above 20 s in every row.

Seconds from `kubectl apply`; medians of the rounds. Upstream's images cannot be pulled here (no
image registry), so there is no side-by-side run on the node; `bench_storage_copy.py` compares
the initializer's copy with upstream's (rclone) on the same S3 API.

    sudo .venv/bin/python benchmarks/bench_cold_start.py [--runs 3] [--sizes-mb 5,200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.1
FAST_PROBE = {
    "tcpSocket": {"port": 9000},
    "initialDelaySeconds": 1,
    "periodSeconds": 1,
    "failureThreshold": 3,
    "successThreshold": 1,
    "timeoutSeconds": 1,
}


def knn_model(path: Path, size_mb: int) -> None:
    import joblib
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    rows = size_mb * 1_000_000 // (64 * 8)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(rows, 64))
    joblib.dump(KNeighborsClassifier(n_neighbors=5).fit(X, rng.integers(0, 3, rows)), path)


def sdep(name: str, uri: str, fast_probe: bool) -> dict:
    graph = {
        "name": "classifier",
        "implementation": "SKLEARN_SERVER",
        "modelUri": uri,
        "envSecretRefName": "s3-credentials",
    }
    predictor: dict = {"name": "default", "replicas": 1, "graph": graph}
    if fast_probe:
        predictor["componentSpecs"] = [{"spec": {"containers": [{"name": "classifier", "readinessProbe": FAST_PROBE}]}}]
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": name},
        "spec": {"predictors": [predictor]},
    }


def secret(endpoint: str, keys: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s3-credentials"},
        "type": "Opaque",
        "stringData": {
            "RCLONE_CONFIG_S3_TYPE": "s3",
            "RCLONE_CONFIG_S3_PROVIDER": "Other",
            "RCLONE_CONFIG_S3_ENDPOINT": endpoint,
            "RCLONE_CONFIG_S3_ACCESS_KEY_ID": keys["AWS_ACCESS_KEY_ID"],
            "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": keys["AWS_SECRET_ACCESS_KEY"],
        },
    }


def milestones(core, namespace: str, started: float, timeout: float = 300) -> dict[str, float]:
    """Seconds from ``started`` to: a pod exists, its initializer exited 0, its server is ready, it is Ready."""
    seen: dict[str, float] = {}
    deadline = started + timeout
    while time.monotonic() < deadline:
        now = time.monotonic() - started
        for pod in core.list_namespaced_pod(namespace).items:
            seen.setdefault("pod", now)
            for status in pod.status.init_container_statuses or []:
                done = status.state.terminated
                if done is not None and done.exit_code == 0:
                    seen.setdefault("fetched", now)
                elif done is not None:
                    raise SystemExit(f"{namespace}: the initializer failed: {done.message}")
            for status in pod.status.container_statuses or []:
                if status.name == "classifier" and status.ready:
                    seen.setdefault("server", now)
            if any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []):
                seen.setdefault("ready", now)
                return seen
        time.sleep(POLL_S)
    raise SystemExit(f"{namespace}: not ready after {timeout:.0f} s (seen: {seen})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes-mb", default="5,200")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes_mb.split(",")]

    from kubernetes import client, config

    from wharf.build.service_images import (
        SKLEARN_SERVER,
        STORAGE_INITIALIZER,
        build_operator_image,
        build_orchestrator_image,
        build_service_image,
    )
    from wharf.charts.helm import ensure_helm
    from wharf.storage import Location, _client, s3_settings, upload
    from wharf.testing import kube_binaries, node
    from wharf.testing.s3 import s3_server

    images = [
        build_operator_image(progress=None),
        build_orchestrator_image(progress=None),
        build_service_image(SKLEARN_SERVER, progress=None),
        build_service_image(STORAGE_INITIALIZER, progress=None),
    ]
    keys = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret"}
    with tempfile.TemporaryDirectory(prefix="wharf-bench-cold-") as tmp_name:
        tmp = Path(tmp_name)
        cluster = node.start_cluster()
        try:
            cluster.node.load_images(images)
            kubeconfig = str(cluster.kubeconfig)

            def kubectl(*argv: str, input: str | None = None) -> None:
                subprocess.run(
                    [str(kube_binaries.binary_path("kubectl")), f"--kubeconfig={kubeconfig}", *argv],
                    input=input,
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )

            subprocess.run(
                [
                    str(ensure_helm()),
                    f"--kubeconfig={kubeconfig}",
                    "install",
                    "wharf",
                    str(ROOT / "charts" / "wharf-core"),
                    "-n",
                    "wharf-system",
                    "--create-namespace",
                    "--wait",
                    "--timeout",
                    "5m",
                ],
                check=True,
                capture_output=True,
                timeout=400,
            )
            config.load_kube_config(config_file=kubeconfig)
            core = client.CoreV1Api()
            with s3_server(tmp / "moto.log", host=node.NODE_IP) as endpoint:
                env = {**keys, "AWS_ENDPOINT_URL": endpoint}
                _client(s3_settings(Location("s3", "models", ""), env)).make_bucket("models")
                for size in sizes:
                    path = tmp / f"{size}" / "model.joblib"
                    path.parent.mkdir()
                    knn_model(path, size)
                    upload(path, f"s3://models/knn-{size}mb/", env)
                    print(f"model of {size} MB: {path.stat().st_size / 1e6:.1f} MB on disk", flush=True)
                results: dict[tuple[int, bool], list[dict[str, float]]] = {}
                for run in range(args.runs):
                    for size in sizes:
                        for fast in (False, True):
                            ns = f"cold-{size}mb-{'fast' if fast else 'default'}-{run}"
                            kubectl("create", "namespace", ns)
                            kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
                            kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(secret(endpoint, keys)))
                            started = time.monotonic()
                            kubectl(
                                "apply",
                                "-n",
                                ns,
                                "-f",
                                "-",
                                input=json.dumps(sdep("cold", f"s3://models/knn-{size}mb", fast)),
                            )
                            results.setdefault((size, fast), []).append(milestones(core, ns, started))
                            kubectl("delete", "namespace", ns, "--wait=false")
        finally:
            cluster.stop()
    print(f"\nseconds from `kubectl apply` (median of {args.runs}):")
    print(f"{'model':>8} {'probe':>8} {'pod':>6} {'fetched':>8} {'server':>7} {'ready':>7}")
    for (size, fast), rounds in sorted(results.items()):
        med = {k: statistics.median(r[k] for r in rounds) for k in ("pod", "fetched", "server", "ready")}
        print(
            f"{size:>6}MB {'1s/1s' if fast else 'default':>8} {med['pod']:>6.1f} {med['fetched']:>8.1f} "
            f"{med['server']:>7.1f} {med['ready']:>7.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
