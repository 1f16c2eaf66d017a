"""How the server is run: bind policy, CurveZMQ, workers behind the proxy, signals, clients' timeouts."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from vaf.runtime.client import AsyncClient, Client, ClientCurve
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import DEMO_SCENE
from vaf.runtime.server import is_local_endpoint

POINT = SceneBundle.load(DEMO_SCENE).acoustics.points[200].tolist()


@pytest.mark.parametrize(
    ("endpoint", "local"),
    [("tcp://127.0.0.1:5557", True), ("tcp://localhost:1", True), ("tcp://[::1]:5", True), ("ipc:///tmp/x", True),
     ("tcp://0.0.0.0:5557", False), ("tcp://*:5557", False), ("tcp://192.168.1.4:5557", False)],
)
def test_local_endpoints(endpoint, local):
    assert is_local_endpoint(endpoint) is local


def test_remote_bind_refused_without_keys(unused_port):
    result = subprocess.run([sys.executable, "-m", "vaf", "serve", "--bind", f"tcp://0.0.0.0:{unused_port}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--curve-keys" in result.stderr and "--insecure-allow-remote" in result.stderr


def test_curve_keys_encrypt_and_authenticate(tmp_path, start_server):
    keys = tmp_path / "keys"
    assert subprocess.run([sys.executable, "-m", "vaf", "keys", str(keys)], timeout=60).returncode == 0
    assert subprocess.run([sys.executable, "-m", "vaf", "keys", str(keys)], timeout=60).returncode == 1  # no overwrite
    srv = start_server(["--curve-keys", str(keys)])
    try:
        curve = ClientCurve.load(keys / "server.key", keys / "client.key_secret")
        srv.wait_ready(curve=curve)
        with Client(srv.endpoint, timeout=10.0, curve=curve) as c:
            assert c.contact("demo", POINT, [0, 1, 0], 0.02, 1.0).pcm.size == 24000
        with Client(srv.endpoint, timeout=1.0) as plain:  # no keys: the handshake never completes
            with pytest.raises(TimeoutError):
                plain.hello()
        stranger = tmp_path / "stranger"
        subprocess.run([sys.executable, "-m", "vaf", "keys", str(stranger)], check=True, timeout=60)
        with Client(srv.endpoint, timeout=1.0, curve=ClientCurve.load(keys / "server.key", stranger / "client.key_secret")) as c:
            with pytest.raises(TimeoutError):  # a valid key pair that is not allowed in
                c.hello()
    finally:
        assert srv.stop() == 0


def test_request_sent_before_workers_connect_is_answered(start_server, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the proxy puts its backend socket
    srv = start_server(["--workers", "1"])
    try:
        with Client(srv.endpoint, timeout=60.0) as c:  # one request, no retry: it must wait, not be dropped
            assert c.hello()["protocol"] == 1
        assert list(tmp_path.glob("vaf-backend-*.ipc"))
    finally:
        assert srv.stop() == 0
    assert not list(tmp_path.glob("vaf-backend-*.ipc"))  # the proxy removes its socket file on exit


def test_workers_behind_proxy_survive_a_worker_crash(start_server):
    srv = start_server(["--workers", "2", "--scene", "demo"])
    try:
        srv.wait_ready()
        with Client(srv.endpoint, timeout=20.0) as c:
            for k in range(12):
                assert c.contact("demo", POINT, [0, 1, 0], 0.02, 1.0, seed=k).pcm.size == 24000
            workers = psutil.Process(srv.proc.pid).children()
            assert len(workers) == 2
            workers[0].kill()
            # the restart is logged once the server has reaped the dead worker; counting live children alone
            # raced with the kill (a worker just killed may not read as a zombie yet)
            deadline = time.monotonic() + 30
            while ("worker exited, restarting" not in srv.log()
                   or len([p for p in psutil.Process(srv.proc.pid).children() if p.status() != psutil.STATUS_ZOMBIE]) < 2):
                assert time.monotonic() < deadline, srv.log()
                time.sleep(0.2)
            served = 0
            for k in range(10):
                try:
                    c.contact("demo", POINT, [0, 1, 0], 0.02, 1.0, seed=k)
                    served += 1
                except TimeoutError:  # a request routed to the dead worker is lost, not the server
                    pass
            assert served >= 8
    finally:
        assert srv.stop() == 0
    assert not [p for p in psutil.pids() if p in {w.pid for w in workers[1:]}]


def test_sigint_stops_gracefully(start_server):
    srv = start_server([])
    srv.wait_ready()
    srv.proc.send_signal(signal.SIGINT)
    assert srv.proc.wait(20) == 0
    assert '"event": "stopped"' in srv.log() and '"signal": "SIGINT"' in srv.log()


def test_client_times_out_then_reconnects(start_server, unused_port):
    with Client(f"tcp://127.0.0.1:{unused_port}", timeout=0.5) as c:
        with pytest.raises(TimeoutError):
            c.hello()
        srv = start_server([], port=unused_port)
        srv.wait_ready()
        c.timeout = 10.0
        assert c.hello()["protocol"] == 1


def test_async_client(server):
    async def main():
        async with AsyncClient(server.endpoint, timeout=10.0) as c:
            hello = await c.hello()
            scene = await c.load_scene("demo")
            # Many tasks at once, mixing streamed (several replies) and whole contacts.
            audios = await asyncio.gather(*[c.contact(scene.scene_id, POINT, [0, 1, 0], 0.02, 1.0, seed=k, stream=k % 2 == 0)
                                            for k in range(8)])
            return hello, audios

    hello, audios = asyncio.run(main())
    assert hello["protocol"] == 1
    assert len(audios) == 8 and all(a.pcm.size == 24000 for a in audios)
    assert not np.array_equal(audios[0].pcm, audios[1].pcm)  # different seeds, different noise
    assert all(a.id != b.id for a, b in zip(audios, audios[1:]))
