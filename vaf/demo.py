"""`vaf demo`: a short headless game against a real runtime server.

Starts `vaf serve` on the embedded demo scene in its own process, downloads the scene's
collision mesh over the protocol, drops and throws balls and blocks onto it in pybullet,
and sends every real collision (position, normal, impulse, speed, striker) to the server,
one `contacts` batch per game frame. The returned audio is mixed on the simulation
timeline into demo.wav; demo.png shows the scene from above with the contact points
coloured by the material that was hit, and a spectrogram of the mix.
"""

from __future__ import annotations

import argparse
import io
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRAME_S = 1 / 60  # one game frame: contacts are batched per frame
PHYSICS_S = 1 / 240
SAMPLE_RATE = 48000
MIN_APPROACH_SPEED = 0.15  # m/s: slower touches are resting contact, not impacts
DEBOUNCE_S = 0.03  # one sound per body and surface within this window


@dataclass(frozen=True)
class Projectile:
    """A thrown or dropped thing: collision shape, mass (kg) and the material it strikes with."""

    kind: str
    striker: str
    mass: float
    radius: float  # metres (half extent for blocks)


PROJECTILES = (
    Projectile("rubber ball", "rubber", 0.06, 0.035),
    Projectile("steel ball", "steel", 0.11, 0.015),
    Projectile("wooden block", "wood", 0.045, 0.022),
)


@dataclass
class Impact:
    time: float  # seconds on the simulation timeline
    position: tuple[float, float, float]
    normal: tuple[float, float, float]
    impulse: float  # N*s
    speed: float  # m/s
    striker: str


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="headless physics demo: collisions -> runtime -> demo.wav and demo.png")
    p.add_argument("--out", default="demo_output", help="folder for demo.wav, demo.png and server.log")
    p.add_argument("--seconds", type=float, default=6.0, help="simulated time")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--endpoint", default=None, help="use a running server instead of starting one")
    p.add_argument("--generator", default="auto", choices=("auto", "baked", "realtime", "physics"),
                   help="which generator sounds the contacts (default: the best the scene has)")
    p.add_argument("--ab", action="store_true", help="also render every contact with the physics ground truth "
                   "into demo_physics.wav, for an A/B listen against demo.wav")
    p.set_defaults(run=run)


def free_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def start_server(endpoint: str, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")
    return subprocess.Popen([sys.executable, "-m", "vaf", "serve", "--bind", endpoint, "--scene", "demo"],
                            stdout=log, stderr=subprocess.STDOUT)


def wait_ready(client, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.hello()
        except TimeoutError:
            if time.monotonic() > deadline:
                raise


class World:
    """pybullet in DIRECT mode, y up, with the scene's collision mesh as static bodies."""

    def __init__(self, glb: bytes, rng: np.random.Generator):
        import pybullet as pb
        import trimesh

        self.pb, self.rng = pb, rng
        self.client = pb.connect(pb.DIRECT)
        pb.setGravity(0, -9.81, 0, physicsClientId=self.client)
        pb.setTimeStep(PHYSICS_S, physicsClientId=self.client)
        scene = trimesh.load(io.BytesIO(glb), file_type="glb", force="scene")
        self.static: set[int] = set()
        self.targets: list[np.ndarray] = []
        for node in scene.graph.nodes_geometry:
            transform, geometry = scene.graph[node]
            mesh = scene.geometry[geometry].copy()
            mesh.apply_transform(transform)
            shape = pb.createCollisionShape(pb.GEOM_MESH, vertices=mesh.vertices.tolist(), indices=mesh.faces.ravel().tolist(),
                                            flags=pb.GEOM_FORCE_CONCAVE_TRIMESH, physicsClientId=self.client)
            body = pb.createMultiBody(0, shape, physicsClientId=self.client)
            pb.changeDynamics(body, -1, restitution=0.5, lateralFriction=0.6, physicsClientId=self.client)
            self.static.add(body)
            if mesh.bounds[1][1] > 0.01:  # things above the floor are worth aiming at
                self.targets.append(mesh.bounds.mean(axis=0) * [1, 0, 1] + [0, mesh.bounds[1][1], 0])
        self.dynamic: dict[int, Projectile] = {}

    def spawn(self) -> None:
        pb, rng = self.pb, self.rng
        kind = PROJECTILES[int(rng.integers(len(PROJECTILES)))]
        target = self.targets[int(rng.integers(len(self.targets)))] if self.targets else np.zeros(3)
        if kind.kind == "wooden block":
            shape = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=[kind.radius] * 3, physicsClientId=self.client)
        else:
            shape = pb.createCollisionShape(pb.GEOM_SPHERE, radius=kind.radius, physicsClientId=self.client)
        if rng.random() < 0.6:  # drop from above
            start = target + [rng.normal(0, 0.03), rng.uniform(0.3, 0.9), rng.normal(0, 0.03)]
            velocity = [0.0, 0.0, 0.0]
        else:  # throw from the side, reaching the target in about 0.4 s
            start = target + [rng.uniform(-1, 1), rng.uniform(0.3, 0.6), rng.uniform(-1, 1)]
            t = 0.4
            velocity = ((target - start) / t + [0, 0.5 * 9.81 * t, 0]).tolist()
        body = pb.createMultiBody(kind.mass, shape, basePosition=start.tolist(), physicsClientId=self.client)
        pb.changeDynamics(body, -1, restitution=0.6 if kind.striker == "rubber" else 0.35, physicsClientId=self.client)
        pb.resetBaseVelocity(body, velocity, [rng.normal(0, 3), rng.normal(0, 3), rng.normal(0, 3)], physicsClientId=self.client)
        self.dynamic[body] = kind

    def step(self, now: float, last_sound: dict) -> list[Impact]:
        """Advances one physics step; returns the impacts of dynamic bodies on the scene."""
        pb = self.pb
        before = {b: np.array(pb.getBaseVelocity(b, physicsClientId=self.client)[0]) for b in self.dynamic}
        pb.stepSimulation(physicsClientId=self.client)
        pairs: dict[tuple[int, int], list] = {}
        for c in pb.getContactPoints(physicsClientId=self.client):
            a, b = c[1], c[2]
            if a in self.dynamic and b in self.static:
                moving, surface, point, normal = a, b, c[6], np.array(c[7])  # normal on B points towards A
            elif b in self.dynamic and a in self.static:
                moving, surface, point, normal = b, a, c[5], -np.array(c[7])
            else:
                continue
            pairs.setdefault((moving, surface), []).append((np.array(point), normal, c[9]))
        impacts = []
        for (moving, surface), points in pairs.items():
            normal = np.mean([p[1] for p in points], axis=0)
            normal /= np.linalg.norm(normal) + 1e-12
            approach = float(-before[moving] @ normal)
            impulse = sum(p[2] for p in points) * PHYSICS_S
            if approach < MIN_APPROACH_SPEED or impulse <= 0 or now - last_sound.get((moving, surface), -1.0) < DEBOUNCE_S:
                continue
            last_sound[(moving, surface)] = now
            position = np.mean([p[0] for p in points], axis=0)
            impacts.append(Impact(now, tuple(position), tuple(normal), impulse, approach, self.dynamic[moving].striker))
        return impacts


def render_png(splat: bytes, impacts: list[Impact], materials: list[str | None], mix: np.ndarray) -> bytes:
    from PIL import Image, ImageDraw

    from vaf.runtime.gaussians import read_ply
    from vaf.runtime.images import png_bytes
    from vaf.training.world.preview import MATERIAL_COLOURS, spectrogram_image, top_view

    with tempfile.NamedTemporaryFile(suffix=".ply") as f:
        f.write(splat)
        f.flush()
        cloud = read_ply(f.name)
    extent = float(np.abs(cloud.positions[:, [0, 2]]).max()) * 1.02
    view = top_view(cloud.positions, (cloud.rgb * 255).astype(np.uint8), cloud.scales[:, 0], extent)
    canvas = Image.new("RGB", (view.width + 200, view.height + 140), (16, 16, 16))
    canvas.paste(view, (0, 0))
    draw = ImageDraw.Draw(canvas)
    scale = view.width / (2 * extent)
    for impact, mat in zip(impacts, materials):
        x, z = (impact.position[0] + extent) * scale, (impact.position[2] + extent) * scale
        r = 3 + 2 * min(3.0, impact.impulse * 20)
        draw.ellipse([x - r, z - r, x + r, z + r], outline=MATERIAL_COLOURS.get(mat or "", (255, 255, 255)), width=2)
    draw.text((view.width + 10, 8), f"{len(impacts)} contacts", fill=(255, 255, 255))
    for i, name in enumerate(sorted({m for m in materials if m})):
        y = 30 + 18 * i
        draw.ellipse([view.width + 10, y, view.width + 22, y + 12], outline=MATERIAL_COLOURS[name], width=2)
        draw.text((view.width + 30, y), name, fill=(230, 230, 230))
    canvas.paste(spectrogram_image(mix, SAMPLE_RATE, canvas.width - 8, 120), (4, view.height + 16))
    return png_bytes(canvas)


def run(args: argparse.Namespace) -> int:
    from vaf.runtime.client import Client, RemoteError, contact_message
    from vaf.runtime.wav import write_wav

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("demo.wav", "demo.png", "demo_physics.wav"):
        if (out / name).exists():  # nothing a user has is overwritten
            print(f"vaf demo: {out / name} exists; choose another --out or move it", file=sys.stderr)
            return 2
    endpoint = args.endpoint or free_endpoint()
    server = None if args.endpoint else start_server(endpoint, out / "server.log")
    rng = np.random.default_rng(args.seed)
    try:
        with Client(endpoint, timeout=10.0) as client:
            hello = wait_ready(client)
            print(f"server: {hello['server']} at {endpoint}, protocol {hello['protocol']}")
            scene = client.load_scene("demo")
            print(f"scene: {scene.name}, {scene.gaussians} Gaussians, {len(scene.segments)} segments, "
                  f"units {scene.units}, up {scene.up}, {scene.handedness}-handed; generators {scene.generators}")
            world = World(client.scene_asset(scene.scene_id, "collision"), rng)
            splat = client.scene_asset(scene.scene_id, "splat")

            mix = np.zeros(int((args.seconds + 1.0) * SAMPLE_RATE))
            mix_physics = np.zeros_like(mix)
            impacts, materials, round_trips, gen_ms, failures = [], [], [], [], 0
            last_sound: dict = {}
            generators: list[str] = []
            steps_per_frame = round(FRAME_S / PHYSICS_S)
            frames = int(args.seconds / FRAME_S)
            for frame in range(frames):
                now = frame * FRAME_S
                if now < args.seconds - 1.5 and frame % 12 == 0:
                    world.spawn()
                pending = [i for s in range(steps_per_frame) for i in world.step(now + s * PHYSICS_S, last_sound)]
                if not pending:
                    continue
                t0 = time.perf_counter()
                messages = [contact_message(scene.scene_id, i.position, i.normal, i.impulse, i.speed, striker=i.striker,
                                            sample_rate=SAMPLE_RATE, generator=args.generator, seed=k)
                            for k, i in enumerate(pending)]
                results = client.contacts(messages)
                round_trips.append((time.perf_counter() - t0) * 1e3 / len(pending))
                if args.ab:
                    for impact, result in zip(pending, client.contacts([{**m, "generator": "physics"} for m in messages])):
                        if not isinstance(result, RemoteError):
                            start = int(impact.time * SAMPLE_RATE)
                            mix_physics[start : start + result.pcm.size] += result.pcm[: mix.size - start] / 32767.0
                for impact, result in zip(pending, results):
                    if isinstance(result, RemoteError):
                        failures += 1
                        continue
                    start = int(impact.time * SAMPLE_RATE)
                    pcm = result.pcm.astype(np.float64) / 32767.0
                    mix[start : start + pcm.size] += pcm[: mix.size - start]
                    impacts.append(impact)
                    materials.append(result.material)
                    generators.append(result.generator)
                    gen_ms.append(result.gen_ms)
            stats = client.stats()
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)

    peak = float(np.abs(mix).max()) if mix.size else 0.0
    if peak > 0.98:  # a limiter would colour the sound; scaling keeps the mix honest
        mix *= 0.98 / peak
    write_wav(out / "demo.wav", mix, SAMPLE_RATE)
    if args.ab:
        write_wav(out / "demo_physics.wav", mix_physics * 0.98 / max(float(np.abs(mix_physics).max()), 0.98), SAMPLE_RATE)
    (out / "demo.png").write_bytes(render_png(splat, impacts, materials, mix.astype(np.float32)))
    counts = {m: materials.count(m) for m in sorted({m for m in materials if m})}
    print(f"contacts sounded: {len(impacts)} ({failures} rejected); by material: {counts}; by generator: "
          f"{ {g: generators.count(g) for g in sorted(set(generators))} }")
    if gen_ms:
        rt = np.array(round_trips)
        print(f"per-contact round trip (batch time / batch size): p50 {np.median(rt):.3f} ms, p99 {np.percentile(rt, 99):.3f} ms")
        print(f"server generation per contact: p50 {np.median(gen_ms):.3f} ms, p99 {np.percentile(gen_ms, 99):.3f} ms; "
              f"server stats p50 {stats['latency_ms']['p50']} ms over {stats['contacts']} contacts")
    level = f"mix peak {peak:.2f}, scaled to 0.98" if peak > 0.98 else f"peak {peak:.2f}"
    print(f"wrote {out / 'demo.wav'} ({mix.size / SAMPLE_RATE:.1f} s, {level}) and {out / 'demo.png'}")
    return 0 if impacts else 1
