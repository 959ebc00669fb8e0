"""Child processes of the dev tools (Temporal and Vault dev servers, workers) and their ports."""

from __future__ import annotations

import random
import socket
import subprocess


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Terminate a child process; kill it if it has not exited within ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# Ports handed to servers that bind them later are picked below Linux's ephemeral
# range (32768+), where outgoing connections take their local ports: a port found
# with bind(0) could be taken by one before the server binds it (seen under load).
PICKED_PORTS = range(20_000, 32_000)


def free_port() -> int:
    for _ in range(100):
        port = random.choice(PICKED_PORTS)  # noqa: S311 - not a secret
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use
            return port
    with socket.socket() as sock:  # everything tried was taken: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
