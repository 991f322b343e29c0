"""A real Google Cloud Storage JSON API on loopback for tests: fake-gcs-server, built from its Go module.

No release binaries or images can be downloaded here, but the Go module proxy serves
``github.com/fsouza/fake-gcs-server`` (its go.mod has no ``replace`` lines), so ``go install`` builds
it (about 80 s cold) into ``~/.cache/wharf/bin/fake-gcs-server-v<version>/``; a binary already there
is not rebuilt. It runs as a separate process with the in-memory backend, the way a real store
would, and Wharf talks to it with google-cloud-storage (``STORAGE_EMULATOR_HOST``).

fake-gcs-server checks no credentials: any bearer token, or none, is accepted.

``python -m wharf.testing.gcs`` builds it (``.ci/run`` does this before the tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wharf.local.process import free_port, serving

MODULE = "github.com/fsouza/fake-gcs-server"
VERSION = "v1.56.1"
BUILD_COMMAND = "python -m wharf.testing.gcs"


def binary_path() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "wharf" / "bin" / f"fake-gcs-server-{VERSION}" / "fake-gcs-server"


def fake_gcs_server_bin() -> Path | None:
    """The built binary, or None when it was not built yet."""
    path = binary_path()
    return path if os.access(path, os.X_OK) else None


def ensure_fake_gcs_server() -> Path:
    """Build fake-gcs-server ``VERSION`` with ``go install`` if missing (idempotent); return its path."""
    ready = fake_gcs_server_bin()
    if ready:
        return ready
    go = shutil.which("go")
    if go is None:
        raise RuntimeError(f"building fake-gcs-server needs Go (`go install {MODULE}@{VERSION}`)")
    target = binary_path()
    # A scratch GOBIN first: a failed build never leaves a half-written binary in the cache.
    with tempfile.TemporaryDirectory(prefix="wharf-fake-gcs-") as scratch:
        env = {**os.environ, "GOBIN": scratch, "CGO_ENABLED": "0"}
        done = subprocess.run(
            [go, "install", f"{MODULE}@{VERSION}"], env=env, cwd=scratch, capture_output=True, text=True, timeout=1800
        )
        if done.returncode != 0:
            raise RuntimeError(f"building fake-gcs-server {VERSION} failed:\n{done.stderr[-4000:]}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(scratch) / "fake-gcs-server"), target)
    return target


@contextmanager
def gcs_server(log_file: Path, host: str = "127.0.0.1", timeout: float = 60.0) -> Iterator[str]:
    """Run fake-gcs-server (plain HTTP, in-memory) on ``host`` and yield its endpoint URL, the value
    ``STORAGE_EMULATOR_HOST`` takes; stopped (by pid) on exit.

    Loopback by default; a test whose containers must reach it passes the Docker bridge's gateway
    address, which only this machine and its containers can reach.
    """
    exe = fake_gcs_server_bin()
    if exe is None:
        raise FileNotFoundError(f"fake-gcs-server is not built; run `{BUILD_COMMAND}`")
    port = free_port(host)
    endpoint = f"http://{host}:{port}"
    args = [
        str(exe),
        "-backend",
        "memory",
        "-scheme",
        "http",
        "-host",
        host,
        "-port",
        str(port),
        "-external-url",
        endpoint,
        "-public-host",
        f"{host}:{port}",
        "-log-level",
        "warn",
    ]
    with serving(args, log_file, f"{endpoint}/storage/v1/b", "fake-gcs-server", timeout):
        yield endpoint


class TokenEndpoint:
    """Stands in for Google's OAuth token endpoint, which cannot be reached here: takes the JWT-bearer
    grant a service-account key signs, checks its signature with the key's public half, records the
    claims, and grants a token (or refuses, as Google does for a revoked key). Point a key's
    ``token_uri`` at ``url``. Threads of this process; ``close()`` stops it.
    """

    def __init__(self, public_pem: str, refuse: bool = False, host: str = "127.0.0.1") -> None:
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs

        self.public_pem, self.refuse, self.claims = public_pem, refuse, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                import google.auth.jwt

                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                # verify=True: a JWT not signed by the key's private half raises, and no token is granted
                outer.claims.append(google.auth.jwt.decode(form["assertion"][0], certs=outer.public_pem, verify=True))
                status, body = (
                    (400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
                    if outer.refuse
                    else (200, {"access_token": "ya29.stand-in", "expires_in": 3600, "token_type": "Bearer"})
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/token"
        import threading

        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def service_account_key() -> tuple[str, str]:
    """A fresh RSA key as (private PKCS#8 PEM, public PEM), as a service-account key carries it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def service_account_json(private_pem: str, token_uri: str) -> str:
    """The JSON of a service-account key file (`gcloud iam service-accounts keys create` writes one)."""
    import json

    return json.dumps(
        {
            "type": "service_account",
            "project_id": "wharf-test",
            "private_key_id": "0123456789abcdef",
            "private_key": private_pem,
            "client_email": "models-reader@wharf-test.iam.gserviceaccount.com",
            "client_id": "1234567890",
            "token_uri": token_uri,
        }
    )


def main() -> int:  # pragma: no cover - provisioning CLI
    print(ensure_fake_gcs_server())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
