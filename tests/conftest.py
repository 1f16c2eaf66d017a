"""Shared fixtures: real server processes on free loopback ports; a tiny world dataset, tiny encoders trained
on it and exported, and a feature scene, built once per session."""

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
from vaf.export.encoders import export_encoders
from vaf.export.scene_build import build_feature_scene
from vaf.runtime.encoders import OnnxEncoders
from vaf.training.encoders.train import TrainConfig, train_encoders
from vaf.training.world.bundle import BundleConfig, build_bundle
from vaf.training.world.dataset import DatasetConfig, make_dataset
from vaf.training.world.scene import generate_scene


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


def _server_factory(folder: Path):
    started = []

    def start(args: list[str], port: int | None = None) -> ServerProcess:
        srv = ServerProcess(args, folder / f"server{len(started)}.log", port)
        started.append(srv)
        return srv

    return start, started


@pytest.fixture()
def start_server(tmp_path):
    """Factory: start_server(args, port=None) -> a ServerProcess, stopped at the end of the test."""
    start, started = _server_factory(tmp_path)
    yield start
    for srv in started:
        srv.stop()


@pytest.fixture(scope="module")
def start_server_module(tmp_path_factory):
    """start_server for servers shared by a test module."""
    start, started = _server_factory(tmp_path_factory.mktemp("servers"))
    yield start
    for srv in started:
        assert srv.stop() == 0, srv.log()


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture()
def start_interruptible():
    """Factory: start_interruptible(*vaf_args, **popen_options) -> a `python -m vaf ...` process that a SIGINT
    stops as Ctrl-C in a terminal would. A shell's background job (how a CI runner may start the suite) begins
    with SIGINT ignored, and Python then installs no KeyboardInterrupt handler: the child gets it back."""
    started = []

    def start(*args: str, **options) -> subprocess.Popen:
        started.append(subprocess.Popen([sys.executable, "-m", "vaf", *args], preexec_fn=_sigint_as_in_a_terminal,
                                        **options))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture()
def unused_port() -> int:
    return free_port()


@pytest.fixture()
def client(server):
    with Client(server.endpoint, timeout=10.0) as c:
        yield c


# --- a tiny sounding world and models trained on it ---------------------------------------

TINY = TrainConfig(
    epochs=2,
    batch=8,
    audio={"type": "audio_cnn", "sample_rate": 24000, "n_mels": 32, "channels": [4, 8], "dim": 16},
    image={"type": "image_cnn", "size": 64, "channels": [4, 8], "dim": 16},
)


@pytest.fixture(scope="session")
def tiny_config() -> TrainConfig:
    return TINY


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "world"
    make_dataset(out, DatasetConfig(scenes=3, hits_per_scene=16, seed=5, views=3, image_size=64, gaussians=4000,
                                    acoustic_points=2000), progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_training(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("encoders")
    report = train_encoders(tiny_dataset, out, TINY, progress=False)
    return out, report


@pytest.fixture(scope="session")
def tiny_encoders(tiny_training, tmp_path_factory) -> OnnxEncoders:
    folder, _ = tiny_training
    return OnnxEncoders.load(export_encoders(folder / "encoders.pt", tmp_path_factory.mktemp("onnx") / "encoders"))


@pytest.fixture(scope="session")
def feature_scene(tiny_encoders, tmp_path_factory):
    """A small synthetic scene bundle with lifted features (path)."""
    root = tmp_path_factory.mktemp("scene")
    build_bundle(generate_scene(21, "tabletop"), BundleConfig(gaussians=6000, acoustic_points=3000, max_modes=16)).save(root / "plain")
    build_feature_scene(root / "plain", root / "features", tiny_encoders, views=12, image_size=96, progress=False)
    return root / "features"
