"""A dbt started before its ``mesh run`` stage: imported, and its project parsed, while earlier stages run.

dagster-dbt runs every dbt command as a fresh ``dbt`` process, so importing dbt (about
1.8 s) and, in an environment's first run, parsing the whole project (2-3 s: dbt's
partial-parse state is per target folder) sit on the stage's path. A location process
that ``mesh run`` started early starts this **server** as it loads: the server imports
dbt, runs ``dbt parse`` with the run's own profile and target folder once the location
has loaded, then waits for one command. At the stage, dagster-dbt is given ``mesh-dbt``
as its dbt executable: a small **client** that hands the server its command line,
environment, working folder and standard output, and exits with dbt's exit code once the
server has exited. The server runs that one command as the ``dbt`` executable would,
with the project it parsed (a command whose options change what is parsed is parsed
again by dbt), and exits.

Without a server to hand the command to, the client runs the real ``dbt`` beside it.
This module imports only the standard library: the client starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

SOCKET_ENV = "MESH_DBT_WARM_SOCKET"  # set by the process that started the server, read by the client
CLIENT = "mesh-dbt"  # the client's console script, installed beside the interpreter
_MAX_MESSAGE = 1 << 20
_PARSE_ENV = ("DBT_PROJECT_DIR", "DBT_PROFILES_DIR", "DBT_TARGET_PATH")  # the parse's: a command in others parses
_TAKES_MANIFEST = {"build", "run", "test", "seed", "snapshot", "compile"}
_PARSE_FLAGS = {"--vars", "--profile", "--target", "-t", "--project-dir", "--profiles-dir", "--target-path",
                "--no-partial-parse"}  # options that change what dbt would parse


def client() -> None:
    """``mesh-dbt``: run this dbt command in the waiting server, else in the real ``dbt``."""
    connection = _connect(os.environ.get(SOCKET_ENV))
    pid = _hand_over(connection) if connection is not None else None
    if pid is None:
        real = Path(sys.executable).with_name("dbt")
        os.execv(real, [str(real), *sys.argv[1:]])
    for sent in (signal.SIGTERM, signal.SIGINT):  # dagster-dbt stops dbt by signalling this process
        signal.signal(sent, lambda number, _: _forward(pid, number))
    reply = _read_line(connection)
    if not reply.startswith("exit "):
        print(f"mesh-dbt: the dbt server (pid {pid}) ended before dbt did", file=sys.stderr)
        sys.exit(2)
    _read_line(connection)  # until the server has exited: its files and locks are released, as a dbt's on exit
    sys.exit(int(reply.split()[1]))


def _forward(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, number)


def _connect(path: str | None) -> socket.socket | None:
    if not path:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:  # no server, or it is gone
        connection.close()
        return None
    return connection


def _hand_over(connection: socket.socket) -> int | None:
    """Send the command with this process's stdout; the server's pid, or ``None`` if it took nothing."""
    command = {"argv": ["dbt", *sys.argv[1:]], "env": dict(os.environ), "cwd": os.getcwd()}
    sys.stdout.flush()
    try:
        socket.send_fds(connection, [json.dumps(command).encode() + b"\n"], [sys.stdout.fileno()])
        reply = _read_line(connection)
    except OSError:
        return None
    return int(reply.split()[1]) if reply.startswith("pid ") else None


def _read_line(connection: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        try:
            chunk = connection.recv(4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def start_server(project_dir: str | Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """Start a server in ``project_dir``; the server, and the socket path a client connects to.

    The socket is listening before this returns, in a folder of its own that only this
    user can enter; the server removes both once it has taken its command, or when its
    stdin closes: it ends with the process that holds its stdin.
    """
    folder = tempfile.mkdtemp(prefix="mesh-dbt-")  # a short path: a Unix socket's is at most 107 bytes
    socket_path = os.path.join(folder, "dbt.sock")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(socket_path)
            listener.listen(1)  # a client may connect at once: it waits until the parse is done
            server = subprocess.Popen(
                [sys.executable, "-m", "mesh_core.dbt_warm", socket_path, str(listener.fileno())],
                cwd=project_dir, env=env, pass_fds=[listener.fileno()],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return server, socket_path


def stop_server(server: subprocess.Popen, socket_path: str, grace_s: float = 10) -> None:
    """End a server that was never used (SIGTERM, SIGKILL after ``grace_s``), and remove its socket folder."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    shutil.rmtree(os.path.dirname(socket_path), ignore_errors=True)


def serve(socket_path: str, listener_fd: int) -> None:
    """Import dbt, parse the project, then run the one command a client hands over.

    Started by ``start_server``, in the dbt project's folder, with stdout and stderr
    discarded until a command hands over its own. Once dbt is imported it reads one line
    from stdin: the ``DBT_*`` variables of the run (its profile and target folder) as a
    JSON object, for the parse. It exits, without a command, when stdin closes (the
    process that started it is gone).
    """
    listener = socket.socket(fileno=listener_fd)
    connection = None
    signal.signal(signal.SIGTERM, lambda *_: _remove(socket_path, exit_code=0))  # stopped unused
    try:
        from dbt.cli.main import dbtRunner

        line = sys.stdin.buffer.readline()
        if line.strip():
            os.environ.update(json.loads(line))
            parsed = dbtRunner().invoke(["parse", "--quiet"])
            parse = {"env": {name: os.environ.get(name) for name in _PARSE_ENV}, "cwd": os.getcwd(),
                     "manifest": parsed.result if parsed.success else None}
            connection = _accept(listener)
    finally:  # one command at most: a later client finds no server, and runs dbt itself
        listener.close()
        _remove(socket_path)
    if connection is None:
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # from now on a signal ends the command, as it ends dbt
    message, fds, _, _ = socket.recv_fds(connection, _MAX_MESSAGE, 1)
    while not message.endswith(b"\n"):
        chunk = connection.recv(_MAX_MESSAGE)
        if not chunk:
            return
        message += chunk
    command = json.loads(message)
    for fd in (1, 2):
        os.dup2(fds[0], fd)
    os.close(fds[0])
    sys.stdout.reconfigure(line_buffering=True)
    os.chdir(command["cwd"])
    os.environ.clear()
    os.environ.update(command["env"])
    sys.argv = command["argv"]
    connection.sendall(f"pid {os.getpid()}\n".encode())
    code = _run(command, parse)
    sys.stdout.flush()
    sys.stderr.flush()
    connection.sendall(f"exit {code}\n".encode())
    # Done, as a dbt process that exits: dbt closed its connections (and so its DuckDB file), its
    # artifacts are written. Exit now; the client waits for the connection to close, as for an exit.
    os._exit(code)


def _remove(socket_path: str, exit_code: int | None = None) -> None:
    """Remove the socket and its folder; then exit at once, if ``exit_code`` is given (a signal handler)."""
    with contextlib.suppress(OSError):
        os.unlink(socket_path)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(socket_path))
    if exit_code is not None:
        os._exit(exit_code)


def _accept(listener: socket.socket) -> socket.socket | None:
    """The client's connection, or ``None`` once stdin closes first."""
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ)
        selector.register(sys.stdin, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is listener:
                    return listener.accept()[0]
                if not os.read(sys.stdin.fileno(), 4096):
                    return None


def _run(command: dict, parse: dict) -> int:
    """Run the command as the ``dbt`` executable would; its exit code (0 done, 1 failed, 2 dbt's error).

    When it runs in the same project, profile and target as the parse, with nothing on
    its command line that changes what is parsed, it is handed the parsed manifest, so
    dbt parses nothing again; otherwise dbt parses as usual (partially, where it can).
    """
    from dbt.cli.main import cli, dbtRunner

    argv = command["argv"]
    same = parse["manifest"] is not None and command["cwd"] == parse["cwd"] and all(
        command["env"].get(name) == value for name, value in parse["env"].items()
    )
    if same and len(argv) > 1 and argv[1] in _TAKES_MANIFEST and not any(arg.split("=")[0] in _PARSE_FLAGS for arg in argv):
        result = dbtRunner(manifest=parse["manifest"]).invoke(argv[1:])
        return 0 if result.success else 2 if result.exception is not None else 1
    try:
        cli()
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
