"""Shared fixtures: real server processes on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vaf.runtime.client import Client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m vaf serve ...` in its own process; stderr (JSON logs) goes to a file."""

    def __init__(self, args: list[str], log_path: Path, port: int | None = None):
        self.port = port or free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "vaf", "serve", "--bind", self.endpoint, *args],
                                     stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def wait_ready(self, timeout: float = 60.0, **client_kwargs) -> None:
        deadline = time.monotonic() + timeout
        with Client(self.endpoint, timeout=1.0, **client_kwargs) as c:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_path.read_text()}")
                try:
                    c.hello()
                    return
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One demo-scene server for a test module."""
    srv = ServerProcess(["--scene", "demo"], tmp_path_factory.mktemp("server") / "server.log")
    srv.wait_ready()
    yield srv
    code = srv.stop()
    assert code == 0, srv.log()


@pytest.fixture()
def start_server(tmp_path):
    """Factory: start_server(args, port=None) -> a ServerProcess, stopped at the end of the test."""
    started = []

    def start(args: list[str], port: int | None = None) -> ServerProcess:
        srv = ServerProcess(args, tmp_path / f"server{len(started)}.log", port)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture()
def unused_port() -> int:
    return free_port()


@pytest.fixture()
def client(server):
    with Client(server.endpoint, timeout=10.0) as c:
        yield c
