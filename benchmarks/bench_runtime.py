"""Runtime server figures against a raw pyzmq echo floor, in one run (record in docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_runtime.py [--seconds 10] [--generator-model DIR]

1. Latency: 8 client processes send contacts at 500/s in total (paced), each waiting for the
   complete 0.5 s 48 kHz s16 audio (Client.contact, decoded to numpy). p50/p99. The contacts
   land on --spots distinct surface samples of the demo scene (default: all of them, in a
   shuffled order per client). The server warms the demo scene at load by default (every spot
   generated); --warm never measures first hits on cold spots, where the real-time generator
   runs; --spots 1 repeated hits on one spot.
2. Sparse latency: one client, one contact every 20 ms, the server idle in between (a game's
   occasional hit: caches go cold between contacts), p50/p99; and the same contacts streamed
   (`stream`: the first 10 ms of audio in a reply of their own, what a game can start playing),
   timed to that first chunk.
3. Throughput: `contacts` batches of 32 from 2 client processes, as fast as replies come, on the
   same spots.
4. Server resident memory with the demo scene after the runs.
The floor is a ROUTER that echoes a reply of the same byte size as the audio reply, timed
with the same DEALER pattern; every figure is also given as a ratio to its floor.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import signal
import socket
import subprocess
import sys
import time

import msgpack
import numpy as np
import psutil
import zmq

CLIENTS, RATE, BATCH = 8, 500.0, 32
SPARSE_RATE = 50.0  # contacts/s of the one sparse client


def free_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def demo_points(count: int) -> list[tuple[list[float], list[float]]]:
    """(position, normal) of `count` acoustic samples of the demo scene, loudest first (0: all)."""
    from vaf.runtime.scene_bundle import SceneBundle
    from vaf.runtime.scenes import DEMO_SCENE

    a = SceneBundle.load(DEMO_SCENE).acoustics
    order = np.argsort(-np.abs(a.gains).max(axis=1), kind="stable")[: count or None]
    return [(a.points[i].tolist(), a.normals[i].tolist()) for i in order]


def echo_server(endpoint: str, reply_bytes: int, ready) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.bind(endpoint)
    ready.set()
    payload = msgpack.packb({"op": "audio", "pcm": b"\0" * reply_bytes})
    while True:
        frames = sock.recv_multipart()
        n = msgpack.unpackb(frames[1]).get("n", 1)
        for _ in range(n):
            sock.send_multipart([frames[0], payload])


def paced_client(endpoint: str, mode: str, rate: float, seconds: float, points, seed: int, out) -> None:
    """Sends one request every 1/rate s (waiting for its reply), cycling through `points` in a
    shuffled order, and reports latencies in ms (mode "stream": to the first chunk of a streamed contact).
    Each mode's call(k) returns the perf_counter time at which its reply counts as in."""
    from vaf.runtime.client import Client

    latencies = []
    order = np.random.default_rng(seed).permutation(len(points))
    if mode == "runtime":
        client = Client(endpoint, timeout=10.0)

        def call(k):
            point = points[order[k % len(order)]]
            client.contact("demo", point[0], point[1], 0.03, 1.0, seed=k)
            return time.perf_counter()
    elif mode == "stream":
        client = Client(endpoint, timeout=10.0)

        def call(k):
            point = points[order[k % len(order)]]
            chunks = client.stream_contact("demo", point[0], point[1], 0.03, 1.0, seed=k)
            next(chunks)
            first = time.perf_counter()
            for _ in chunks:  # the rest, untimed
                pass
            return first
    else:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.connect(endpoint)
        request = msgpack.packb({"v": 1, "op": "contact", "id": 1, "scene_id": "demo", "position": points[0][0],
                                 "normal": points[0][1], "impulse": 0.03, "speed": 1.0, "seed": 1})

        def call(k):
            sock.send(request)
            msgpack.unpackb(sock.recv())
            return time.perf_counter()

    start = time.perf_counter() + 0.2
    k = 0
    while True:
        slot = start + k / rate
        now = time.perf_counter()
        if slot - start > seconds:
            break
        if slot > now:
            time.sleep(slot - now)
        t0 = time.perf_counter()
        latencies.append((call(k) - t0) * 1e3)
        k += 1
    out.put(latencies)


def batch_client(endpoint: str, mode: str, seconds: float, points, seed: int, out) -> None:
    from vaf.runtime.client import Client, contact_message

    done = 0
    deadline = time.perf_counter() + seconds
    if mode == "runtime":
        client = Client(endpoint, timeout=30.0)
        order = np.random.default_rng(seed).permutation(len(points))
        k = 0
        while time.perf_counter() < deadline:
            spots = [points[order[(k + j) % len(order)]] for j in range(BATCH)]
            batch = [contact_message("demo", p[0], p[1], 0.03, 1.0, seed=k + j) for j, p in enumerate(spots)]
            done += sum(1 for r in client.contacts(batch) if not isinstance(r, Exception))
            k += BATCH
    else:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.connect(endpoint)
        while time.perf_counter() < deadline:
            sock.send(msgpack.packb({"n": BATCH, "pad": b"\0" * (200 * BATCH)}))
            for _ in range(BATCH):
                sock.recv()
            done += BATCH
    out.put(done)


def run_clients(target, args_list) -> list:
    q = mp.Queue()
    procs = [mp.Process(target=target, args=(*a, q)) for a in args_list]
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    return results


def measure(endpoint: str, mode: str, seconds: float, points) -> dict:
    lat = np.concatenate(run_clients(paced_client, [(endpoint, mode, RATE / CLIENTS, seconds, points, k) for k in range(CLIENTS)]))
    sparse = np.asarray(run_clients(paced_client, [(endpoint, mode, SPARSE_RATE, seconds, points, CLIENTS + 2)])[0])
    figures = {}
    if mode == "runtime":
        first = np.asarray(run_clients(paced_client, [(endpoint, "stream", SPARSE_RATE, seconds, points, CLIENTS + 3)])[0])
        figures = {"first chunk p50": float(np.median(first)), "first chunk p99": float(np.percentile(first, 99))}
    t0 = time.perf_counter()
    done = sum(run_clients(batch_client, [(endpoint, mode, seconds, points, CLIENTS + k) for k in range(2)]))
    elapsed = time.perf_counter() - t0
    return {"p50": float(np.median(lat)), "p99": float(np.percentile(lat, 99)), "n": lat.size,
            "sparse p50": float(np.median(sparse)), "sparse p99": float(np.percentile(sparse, 99)), "throughput": done / elapsed,
            **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=0, help="pass --workers N to the server")
    parser.add_argument("--spots", type=int, default=0, help="distinct surface samples the paced contacts land on (0: all)")
    parser.add_argument("--warm", default="auto", choices=["auto", "always", "never"],
                        help="the server's --warm (auto, its default, warms the demo scene: every spot generated at load)")
    parser.add_argument("--generator-model", default=None,
                        help="the server's --generator-model: an exported generator folder (default: the embedded one)")
    args = parser.parse_args()
    points = demo_points(args.spots)
    point = points[0]

    endpoint = free_endpoint()
    cmd = [sys.executable, "-m", "vaf", "serve", "--bind", endpoint, "--scene", "demo", "--log-level", "warning"]
    cmd += ["--workers", str(args.workers)] if args.workers else []
    cmd += ["--generator-model", args.generator_model] if args.generator_model else []
    server = subprocess.Popen(cmd + ["--warm", args.warm])
    from vaf.runtime.client import Client

    with Client(endpoint, timeout=60.0) as c:
        c.hello()
        reply_bytes = len(c.contact("demo", point[0], point[1], 0.03, 1.0).pcm.tobytes())
    runtime = measure(endpoint, "runtime", args.seconds, points)
    procs = [psutil.Process(server.pid)] + psutil.Process(server.pid).children(recursive=True)
    rss_mb = sum(p.memory_info().rss for p in procs) / 2**20
    server.send_signal(signal.SIGTERM)
    server.wait(30)

    echo_endpoint = free_endpoint()
    ready = mp.Event()
    echo = mp.Process(target=echo_server, args=(echo_endpoint, reply_bytes, ready), daemon=True)
    echo.start()
    ready.wait(10)
    floor = measure(echo_endpoint, "echo", args.seconds, points)
    echo.terminate()

    print(f"# {time.strftime('%Y-%m-%d')} {platform.machine()}, {psutil.cpu_count()} cores, Python {platform.python_version()}, "
          f"server workers: {args.workers or 'none (single process)'}; paced contacts on {len(points)} spots"
          + f"; server --warm {args.warm}")
    print("| figure | runtime | raw pyzmq echo floor | ratio |")
    print("|---|---|---|---|")
    for key, label in (("p50", "contact latency p50, ms"), ("p99", "contact latency p99, ms")):
        print(f"| {label} ({CLIENTS} clients, {RATE:.0f}/s) | {runtime[key]:.3f} | {floor[key]:.3f} | {runtime[key] / floor[key]:.2f}x |")
    for key in ("sparse p50", "sparse p99"):
        print(f"| contact latency {key.split()[1]}, ms (1 client, one contact every {1e3 / SPARSE_RATE:.0f} ms) | {runtime[key]:.3f} | "
              f"{floor[key]:.3f} | {runtime[key] / floor[key]:.2f}x |")
    for key in ("first chunk p50", "first chunk p99"):
        print(f"| streamed contact, first 10 ms chunk {key.split()[2]}, ms (1 client, one contact every {1e3 / SPARSE_RATE:.0f} ms) | "
              f"{runtime[key]:.3f} | | |")
    print(f"| contacts/s, batches of {BATCH} from 2 clients | {runtime['throughput']:.0f} | {floor['throughput']:.0f} | "
          f"{runtime['throughput'] / floor['throughput']:.2f}x |")
    print(f"| server resident memory, demo scene, MB | {rss_mb:.0f} | | |")
    print(f"\nsamples: {runtime['n']} contacts timed; reply {reply_bytes} bytes of PCM")


if __name__ == "__main__":
    main()
