#!/opt/mlserver/bin/python
"""`mlserver start FOLDER`, as the image's entrypoint, with two changes a pod needs.

1. Nothing is written on the read-only root. With parallel workers (MLServer's own default is one;
   the operator renders MLSERVER_PARALLEL_WORKERS=0) MLServer keeps Prometheus' multiprocess files
   in MLSERVER_METRICS_DIR and unpacks a model's environment_tarball under MLSERVER_ENVIRONMENTS_DIR,
   both under the working directory by default. /dev/shm is the one writable place Docker
   (--read-only) and a Kubernetes pod give every container; each container takes a folder of its
   own there, since the containers of a pod share /dev/shm and the metric files are named by PIDs,
   which repeat across containers. A value the user sets wins.
2. A model that fails to load stops the server with exit code 1 and a last line naming the model,
   its runtime and the error (MLServer 1.7 logs a traceback, stops and exits 0, which a pod's
   status would show as Completed with no reason). The same line is the container's termination
   message, so the pod's status (and the SeldonDeployment's, which the operator copies from it)
   says why even when a worker's last words reach the log after it.
"""

import asyncio
import logging
import os
import sys
import tempfile


class _LoadFailure(logging.Handler):
    """Keeps the exception MLServer 1.7 logs, with this message, when a model fails to load at
    start-up. The one sign of it: MLServer then stops its servers as for SIGINT (uvicorn even raises
    SIGINT again once stopped), so how the server stopped does not tell a failure from a signal."""

    MESSAGE = "Some of the models failed to load during startup!"
    failed = False
    error: BaseException | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == self.MESSAGE:
            self.failed = True
            self.error = record.exc_info[1] if record.exc_info else None


def write_termination_message(message: str) -> None:
    """What wharf.termination does in Wharf's own images (this image has no Wharf): the kubelet reads
    the file when the container stops; it exists only in a pod, and keeps at most 4096 bytes."""
    path = os.environ.get("WHARF_TERMINATION_MESSAGE_PATH") or "/dev/termination-log"
    if os.path.isfile(path):
        try:
            with open(path, "wb") as out:
                out.write(message.encode("utf-8", "replace")[:4096].decode("utf-8", "ignore").encode())
        except OSError:
            pass


def writable_dirs(env: dict) -> None:
    if not (env.get("MLSERVER_METRICS_DIR") and env.get("MLSERVER_ENVIRONMENTS_DIR")):
        scratch = tempfile.mkdtemp(prefix="mlserver.", dir="/dev/shm")
        env.setdefault("MLSERVER_METRICS_DIR", os.path.join(scratch, "metrics"))
        env.setdefault("MLSERVER_ENVIRONMENTS_DIR", os.path.join(scratch, "envs"))


async def serve(folder: str) -> str:
    """Serve until a signal (returns ""), or until a model failed to load (returns why)."""
    from mlserver.cli.serve import load_settings
    from mlserver.server import MLServer

    failure = _LoadFailure(logging.ERROR)
    logging.getLogger("mlserver").addHandler(failure)
    settings, models = await load_settings(folder)
    await MLServer(settings).start(models)
    if not failure.failed:
        return ""
    names = ", ".join(f"{m.name} ({getattr(m, 'implementation_', '?')})" for m in models) or "none"
    cause = f"{type(failure.error).__name__}: {failure.error}" if failure.error else "the server stopped"
    return f"mlserver-start: model {names} from {os.path.abspath(folder)} did not load: {cause}"


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: mlserver-start MODEL_FOLDER", file=sys.stderr)
        return 2
    writable_dirs(os.environ)
    from mlserver.logging import configure_logger
    from mlserver.utils import install_uvloop_event_loop

    configure_logger()
    install_uvloop_event_loop()
    failed = asyncio.run(serve(sys.argv[1]))
    if failed:  # after asyncio.run, whose shutdown logs more
        print(failed, flush=True)
        write_termination_message(failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
