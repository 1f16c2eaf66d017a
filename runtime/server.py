"""The ZeroMQ side of the runtime: a ROUTER socket, or a ROUTER-DEALER proxy in front of workers.

Single process: clients' DEALERs -> ROUTER (bound) -> Service.
Scale-out:     clients' DEALERs -> ROUTER (bound) -> proxy -> DEALER (backend, bound)
               -> N worker DEALERs (connected; local processes or other machines).
Workers see the same [identity, request] frames as the single process and run the same loop.
A slow or vanished client never blocks others: the ROUTER drops what it cannot queue for
one peer (high-water mark), and heartbeats reap dead peers.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from vaf.runtime.protocol import HARD_MESSAGE_BYTES, ErrorCode, ProtocolError, pack
from vaf.runtime.service import Service

DEFAULT_BIND = "tcp://127.0.0.1:5557"
HIGH_WATER_MARK = 1000  # messages queued per peer before the ROUTER drops
HEARTBEAT_MS = 2000
HEARTBEAT_TIMEOUT_MS = 6000
POLL_MS = 100

log = logging.getLogger("vaf.runtime")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: ts, level, event, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": round(record.created, 6), "level": record.levelname.lower(), "event": record.getMessage(),
                 "pid": record.process, **getattr(record, "fields", {})}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger("vaf")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def is_local_endpoint(endpoint: str) -> bool:
    """True for ipc://, inproc:// and tcp:// on a loopback address."""
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://") :].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass
class CurveKeys:
    """CurveZMQ keys from a folder made by `vaf keys DIR`: server.key_secret, and the public keys
    of the clients allowed in, clients/*.key."""

    public: bytes
    secret: bytes
    clients_dir: Path

    @classmethod
    def load(cls, folder: str | Path) -> CurveKeys:
        folder = Path(folder)
        secret_file = folder / "server.key_secret"
        if not secret_file.is_file():
            raise ValueError(f"--curve-keys {folder}: no server.key_secret (make one with `vaf keys {folder}`)")
        public, secret = zmq.auth.load_certificate(str(secret_file))
        clients = folder / "clients"
        if not clients.is_dir() or not any(clients.glob("*.key")):
            raise ValueError(f"--curve-keys {folder}: no client public keys in {clients}/*.key")
        return cls(public, secret, clients)


def make_keys(folder: str | Path, client_name: str = "client") -> None:
    """Writes a server key pair and one client key pair (its public half allowed in)."""
    folder = Path(folder)
    if (folder / "server.key_secret").exists():
        raise FileExistsError(f"{folder}/server.key_secret exists; not overwriting keys")
    (folder / "clients").mkdir(parents=True, exist_ok=True)
    zmq.auth.create_certificates(str(folder), "server")
    zmq.auth.create_certificates(str(folder), client_name)
    os.replace(folder / f"{client_name}.key", folder / "clients" / f"{client_name}.key")


def check_bind_policy(endpoint: str, curve: CurveKeys | None, insecure_allow_remote: bool) -> None:
    if is_local_endpoint(endpoint) or curve is not None or insecure_allow_remote:
        return
    raise ValueError(f"refusing to bind {endpoint}: it is reachable from other machines. Give --curve-keys DIR "
                     "(CurveZMQ encryption and client authentication) or --insecure-allow-remote")


def tune(sock: zmq.Socket) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, HIGH_WATER_MARK)
    sock.setsockopt(zmq.RCVHWM, HIGH_WATER_MARK)
    sock.setsockopt(zmq.MAXMSGSIZE, HARD_MESSAGE_BYTES)
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)


def bind_frontend(ctx: zmq.Context, endpoint: str, curve: CurveKeys | None) -> zmq.Socket:
    sock = ctx.socket(zmq.ROUTER)
    tune(sock)
    if curve is not None:
        sock.curve_secretkey, sock.curve_publickey, sock.curve_server = curve.secret, curve.public, True
    sock.bind(endpoint)
    return sock


class StopFlag:
    """Set by SIGINT/SIGTERM (or by a test); polled by the loops every POLL_MS."""

    def __init__(self) -> None:
        self.stopped = False

    def __call__(self) -> bool:
        return self.stopped

    def install(self) -> None:
        def stop(signum, _frame):
            log.info("stopping", extra={"fields": {"signal": signal.Signals(signum).name}})
            self.stopped = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)


def serve_socket(sock: zmq.Socket, service: Service, should_stop: Callable[[], bool]) -> None:
    """Answers [identity, request] messages until should_stop(); shared by the server and its workers."""
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    dropped = 0
    while not should_stop():
        if not poller.poll(POLL_MS):
            continue
        for _ in range(256):  # drain what is queued, then look at the stop flag again
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            identity, payload = frames[0], frames[1:]
            if len(payload) == 1:
                replies = service.handle(payload[0])
            else:
                error = ProtocolError(ErrorCode.BAD_MESSAGE, f"a request is one frame, got {len(payload)}")
                replies = iter([service.error(None, error)])
            for reply in replies:
                try:
                    sock.send_multipart([identity, pack(reply)], zmq.NOBLOCK)
                except zmq.Again:  # that peer's queue is full: drop rather than block everyone
                    dropped += 1
                    if dropped % 1000 == 1:
                        log.warning("reply dropped, peer queue full", extra={"fields": {"dropped": dropped}})


def run_server(service: Service, bind: str, curve: CurveKeys | None = None, stop: StopFlag | None = None) -> None:
    """Single-process server on `bind` until stopped."""
    stop = stop or StopFlag()
    ctx = zmq.Context()
    auth = _start_auth(ctx, curve)
    sock = bind_frontend(ctx, bind, curve)
    log.info("listening", extra={"fields": {"bind": bind, "workers": 0, "curve": curve is not None}})
    try:
        serve_socket(sock, service, stop)
    finally:
        sock.close(0)
        if auth:
            auth.stop()
        ctx.term()
        log.info("stopped", extra={"fields": service.stats.snapshot()})


def run_worker(service: Service, backend: str, stop: StopFlag | None = None) -> None:
    """A worker: connects a DEALER to a proxy's backend and serves what it is given."""
    stop = stop or StopFlag()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    tune(sock)
    sock.connect(backend)
    log.info("worker ready", extra={"fields": {"backend": backend}})
    try:
        serve_socket(sock, service, stop)
    finally:
        sock.close(0)
        ctx.term()


def run_proxy(bind: str, backend: str, worker_command: list[str], workers: int, curve: CurveKeys | None = None,
              stop: StopFlag | None = None) -> None:
    """Frontend ROUTER <-> backend DEALER, with `workers` local worker processes kept alive."""
    stop = stop or StopFlag()
    ctx = zmq.Context()
    auth = _start_auth(ctx, curve)
    frontend = bind_frontend(ctx, bind, curve)
    back = ctx.socket(zmq.DEALER)
    tune(back)
    back.bind(backend)
    procs = [subprocess.Popen(worker_command) for _ in range(workers)]
    log.info("listening", extra={"fields": {"bind": bind, "backend": backend, "workers": workers}})
    try:
        while not stop():
            # Requests are read only while some worker can take them: before the first worker
            # connects (or if all are busy) they wait in the frontend's queue, never dropped.
            poller = zmq.Poller()
            poller.register(back, zmq.POLLIN)
            if back.getsockopt(zmq.EVENTS) & zmq.POLLOUT:
                poller.register(frontend, zmq.POLLIN)
            for sock, _ in poller.poll(POLL_MS):
                other = back if sock is frontend else frontend
                for _ in range(256):
                    if sock is frontend and not back.getsockopt(zmq.EVENTS) & zmq.POLLOUT:
                        break
                    try:
                        msg = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        other.send_multipart(msg, zmq.NOBLOCK)
                    except zmq.Again:  # only replies get here: that client's queue is full
                        pass
            for i, p in enumerate(procs):
                if p.poll() is not None:  # a worker died: replace it, keep serving
                    log.warning("worker exited, restarting", extra={"fields": {"pid": p.pid, "code": p.returncode}})
                    procs[i] = subprocess.Popen(worker_command)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        frontend.close(0)
        back.close(0)
        if auth:
            auth.stop()
        ctx.term()
        if backend.startswith("ipc://"):  # ZeroMQ leaves the socket file behind
            Path(backend[len("ipc://"):]).unlink(missing_ok=True)
        log.info("stopped", extra={"fields": {"workers": workers}})


def _start_auth(ctx: zmq.Context, curve: CurveKeys | None) -> ThreadAuthenticator | None:
    if curve is None:
        return None
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=str(curve.clients_dir))
    return auth


def default_backend() -> str:
    return f"ipc://{Path(os.environ.get('TMPDIR', '/tmp')) / f'vaf-backend-{os.getpid()}-{int(time.time())}.ipc'}"

