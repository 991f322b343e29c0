"""The reason a container stops, where Kubernetes looks for it: the container's termination message.

The kubelet reads ``terminationMessagePath`` (``/dev/termination-log`` unless the pod says otherwise)
when a container exits and puts its content in the pod's status, from where the operator copies it
into the SeldonDeployment's. With ``FallbackToLogsOnError`` it would take the log's tail instead, but
the last log line is not always the cause (a server's supervisor has the last word after its worker
said why it failed). Outside Kubernetes the file does not exist and nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_PATH = "/dev/termination-log"
LIMIT = 4096  # bytes; the kubelet keeps no more than this of a container's message


def write_termination_message(message: str, path: str | None = None) -> bool:
    """Write ``message`` (cut to the kubelet's limit) if the pod provides the file; True if written."""
    target = Path(path or os.environ.get("WHARF_TERMINATION_MESSAGE_PATH") or DEFAULT_PATH)
    if not target.is_file():
        return False
    # cut on a character boundary: the status is JSON, a split UTF-8 sequence would be mangled
    data = message.encode("utf-8", "replace")[:LIMIT].decode("utf-8", "ignore").encode()
    try:
        target.write_bytes(data)
    except OSError:
        return False
    return True
