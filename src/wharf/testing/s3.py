"""A real S3 API on loopback for tests: moto's server mode, from its own virtualenv.

moto (and the boto3 it needs) pins ``python-dateutil<3``; the project venv carries the kubernetes
client with a newer one, so moto lives in ``~/.cache/wharf/moto-<version>/`` and runs as a
separate process, the way a real object store would. Wharf talks to it with its own S3 client.

``python -m wharf.testing.s3`` creates the venv (``.ci/run`` does this before the tests).
"""

from __future__ import annotations

import subprocess
import sys
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wharf.local.process import free_port, serving

MOTO_VERSION = "5.2.5"
_MARKER = ".wharf-moto-ok"


def venv_dir() -> Path:
    return Path.home() / ".cache" / "wharf" / f"moto-{MOTO_VERSION}"


def moto_server_bin() -> Path | None:
    """The ``moto_server`` of a ready venv, or None when it was not made yet."""
    exe = venv_dir() / "bin" / "moto_server"
    return exe if exe.exists() and (venv_dir() / _MARKER).exists() else None


def ensure_moto() -> Path:
    """Create the moto venv if missing (idempotent) and return its ``moto_server``."""
    ready = moto_server_bin()
    if ready:
        return ready
    root = venv_dir()
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    subprocess.run(
        [
            str(root / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"moto[server]=={MOTO_VERSION}",
        ],
        check=True,
    )
    (root / _MARKER).write_text(f"moto[server]=={MOTO_VERSION}\n")
    return root / "bin" / "moto_server"


@contextmanager
def s3_server(log_file: Path, host: str = "127.0.0.1", timeout: float = 60.0) -> Iterator[str]:
    """Run ``moto_server`` on ``host`` and yield its endpoint URL; stopped (by pid) on exit.

    Loopback by default; a test whose containers must reach it passes the Docker bridge's gateway
    address, which only this machine and its containers can reach.
    """
    exe = moto_server_bin()
    if exe is None:
        raise FileNotFoundError("moto is not installed; run `python -m wharf.testing.s3`")
    port = free_port(host)
    endpoint = f"http://{host}:{port}"
    with serving([str(exe), "-H", host, "-p", str(port)], log_file, f"{endpoint}/moto-api/", "moto_server", timeout):
        yield endpoint


# Run by the moto venv's Python, whose boto3 speaks IAM (Wharf's own S3 client does not).
_MAKE_USER = """
import json, sys
import boto3
endpoint, user, bucket = sys.argv[1:]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName=user)
iam.put_user_policy(UserName=user, PolicyName="read-" + bucket, PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                   "Resource": ["arn:aws:s3:::" + bucket, "arn:aws:s3:::" + bucket + "/*"]}],
}))
key = iam.create_access_key(UserName=user)["AccessKey"]
print(json.dumps([key["AccessKeyId"], key["SecretAccessKey"]]))
"""


def enforce_credentials(endpoint: str, bucket: str, user: str = "model-reader") -> tuple[str, str]:
    """Make an IAM user who may read ``bucket``, then switch the moto server at ``endpoint`` to
    checking every request's signature; return the user's (access key id, secret access key).

    From then on moto accepts only keys of IAM users it made, as a real store does: a wrong
    secret is ``SignatureDoesNotMatch``, an unknown key id ``InvalidAccessKeyId``. Do this on a
    server of its own: the switch holds for the rest of the server's life.
    """
    import json
    import urllib.request

    python = venv_dir() / "bin" / "python"
    out = subprocess.run(
        [str(python), "-c", _MAKE_USER, endpoint, user, bucket],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    key_id, secret = json.loads(out)
    request = urllib.request.Request(  # moto's own admin API: authenticate from the next action on
        f"{endpoint}/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
    return key_id, secret


def main() -> int:  # pragma: no cover - provisioning CLI
    print(ensure_moto())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
