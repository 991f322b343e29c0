#!/usr/bin/env python3
"""Storage initializer benchmark: ``wharf storage cp`` against ``rclone copy``, side by side, one run.

Upstream's storage initializer image runs ``rclone copy <modelUri> /mnt/models``; Wharf's runs
``wharf storage cp <modelUri> /mnt/models``. This copies the same model folder (one file of 5 MB,
then of 200 MB: the sizes the cold-start figures of issue 21 name) from the same S3 API (moto, on
127.0.0.1) into an empty folder with each tool, alternating, ``--runs`` times, and prints the
median wall time of each (process start included, as in a pod) and their ratio. Every copy is
checked byte for byte (SHA-256) against the file uploaded.

rclone is the Debian package (``apt-get install -y rclone``), configured only through the
``RCLONE_CONFIG_S3_*`` variables upstream's users put in their ``envSecretRefName`` Secret.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WHARF = Path(sys.executable).parent / "wharf"
BUCKET = "models"
KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret"}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed ({proc.returncode}): {proc.stderr[-1000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="copies per tool and size (median reported)")
    parser.add_argument("--sizes-mb", default="5,200", help="comma list of model file sizes in MB")
    args = parser.parse_args()
    rclone = shutil.which("rclone")
    if rclone is None:
        print("rclone is not installed: apt-get install -y rclone", file=sys.stderr)
        return 2
    from wharf.storage import Location, _client, s3_settings, upload
    from wharf.testing.s3 import moto_server_bin, s3_server

    if moto_server_bin() is None:
        print("moto is not installed: python -m wharf.testing.s3", file=sys.stderr)
        return 2
    version = subprocess.run([rclone, "version"], capture_output=True, text=True).stdout.split("\n")[0]
    with tempfile.TemporaryDirectory(prefix="wharf-bench-storage-") as tmp_name:
        tmp = Path(tmp_name)
        with s3_server(tmp / "moto.log") as endpoint:
            env = {**os.environ, **KEYS, "AWS_ENDPOINT_URL": endpoint}
            _client(s3_settings(Location("s3", BUCKET, ""), env)).make_bucket(BUCKET)
            # as in the initializer's pod: only the Secret's RCLONE_CONFIG_* variables (this machine's
            # AWS_CA_BUNDLE would make rclone's AWS SDK refuse its own HTTP transport)
            clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
            rclone_env = {
                **clean,
                "RCLONE_CONFIG_S3_TYPE": "s3",
                "RCLONE_CONFIG_S3_PROVIDER": "Other",
                "RCLONE_CONFIG_S3_ENDPOINT": endpoint,
                "RCLONE_CONFIG_S3_ACCESS_KEY_ID": KEYS["AWS_ACCESS_KEY_ID"],
                "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": KEYS["AWS_SECRET_ACCESS_KEY"],
            }
            print(f"wharf storage cp ({WHARF}) vs {version}; S3 API: moto on {endpoint}; {args.runs} runs each")
            print(f"{'size':>8} {'wharf s':>9} {'rclone s':>9} {'rclone/wharf':>13}")
            for size_mb in (int(s) for s in args.sizes_mb.split(",")):
                source = tmp / f"{size_mb}mb" / "model.joblib"
                source.parent.mkdir()
                source.write_bytes(os.urandom(size_mb * 1_000_000))
                want = sha256(source)
                upload(source, f"s3://{BUCKET}/{size_mb}mb/", env)
                times: dict[str, list[float]] = {"wharf": [], "rclone": []}
                for run in range(args.runs):
                    for tool in ("wharf", "rclone"):  # alternating, so drift hits both alike
                        dest = tmp / f"out-{tool}-{size_mb}-{run}"
                        if tool == "wharf":
                            cmd = [str(WHARF), "storage", "cp", f"s3://{BUCKET}/{size_mb}mb", str(dest)]
                            times[tool].append(timed(cmd, env))
                        else:
                            cmd = [rclone, "copy", f"s3:{BUCKET}/{size_mb}mb", str(dest)]
                            times[tool].append(timed(cmd, rclone_env))
                        got = sha256(dest / "model.joblib")
                        if got != want:
                            raise SystemExit(f"{tool}: the copy of {size_mb} MB differs from the upload")
                        shutil.rmtree(dest)
                w, r = statistics.median(times["wharf"]), statistics.median(times["rclone"])
                print(f"{size_mb:>6}MB {w:>9.3f} {r:>9.3f} {r / w:>12.2f}x", flush=True)
                source.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
