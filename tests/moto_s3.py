"""moto's S3 server on loopback, in a process of its own: for the S3 store tests and the S3 benchmark.

deltalake holds the GIL while it waits for S3, so a server thread in the caller's own
process could never answer; the server runs in a child process started and stopped here.
"""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_SERVER = """
import logging
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
server.start()
print("%s:%d" % server.get_host_and_port(), flush=True)
sys.stdin.read()
server.stop()
"""


@contextmanager
def s3_server(start_timeout_s: float = 120) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, as ``host:port``; stopped on exit (killed after 30 s)."""
    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([server.stdout], [], [], start_timeout_s)
        address = server.stdout.readline().strip() if ready else ""
        if not address:
            raise RuntimeError(f"moto's S3 server did not start within {start_timeout_s:.0f}s")
        yield address
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
