"""`vaf serve` and `vaf keys`: the runtime's command line."""

from __future__ import annotations

import argparse
import sys

from vaf.runtime.scenes import DEFAULT_SURFACE_TOLERANCE, WARM_AUTO_LIMIT, WARM_POLICIES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the runtime server", description="Serve scenes over ZeroMQ (protocol v1, docs/protocol.md).")
    p.add_argument("--bind", default="tcp://127.0.0.1:5557", help="ZeroMQ endpoint to bind (tcp://HOST:PORT or ipc://PATH)")
    p.add_argument("--scene", action="append", default=[], metavar="NAME_OR_PATH",
                   help="preload a scene: a bundle folder or a known name (repeatable; 'demo' is built in)")
    p.add_argument("--scene-dir", action="append", default=[], metavar="DIR", help="make every bundle in DIR loadable by name")
    p.add_argument("--workers", type=int, default=0, help="N>0: a ROUTER-DEALER proxy in front of N worker processes")
    p.add_argument("--backend", default=None, help="with --workers: the proxy's backend endpoint (default: a fresh ipc:// path)")
    p.add_argument("--worker", metavar="BACKEND", default=None,
                   help="run only a worker connected to a proxy's backend (for workers on other machines)")
    p.add_argument("--curve-keys", metavar="DIR", default=None, help="CurveZMQ keys made by `vaf keys DIR`")
    p.add_argument("--insecure-allow-remote", action="store_true", help="allow a non-loopback bind without CurveZMQ")
    p.add_argument("--surface-tolerance", type=float, default=DEFAULT_SURFACE_TOLERANCE,
                   help="metres a contact may lie off every surface (default %(default)s)")
    p.add_argument("--encoders", metavar="DIR", default=None,
                   help="audio/image encoders for localize (default: the embedded ones, if present)")
    p.add_argument("--no-encoders", action="store_true", help="serve without localize")
    p.add_argument("--generator-model", metavar="DIR", default=None,
                   help="real-time generator model (default: the embedded one, if present)")
    p.add_argument("--no-generator-model", action="store_true", help="serve without the real-time generator")
    p.add_argument("--warm", nargs="?", const="always", default="auto", choices=WARM_POLICIES,
                   help="when a scene loads, run the real-time generator on every surface sample, so the first hit on a "
                   "spot costs no more than later ones (the demo scene: 0.24 s and ~6 MB); auto (default): scenes of at "
                   f"most {WARM_AUTO_LIMIT} surface samples; --warm alone: always")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(run=serve)

    k = sub.add_parser("keys", help="make CurveZMQ keys for `vaf serve --curve-keys`")
    k.add_argument("dir", help="folder for server.key(_secret), client.key_secret and clients/client.key")
    k.set_defaults(run=keys)


def serve(args: argparse.Namespace) -> int:
    from vaf.runtime import server
    from vaf.runtime.scenes import SceneCatalog
    from vaf.runtime.service import Service
    from vaf.runtime.generators import GeneratorSet

    server.setup_logging(args.log_level)
    stop = server.StopFlag()
    stop.install()
    try:
        curve = server.CurveKeys.load(args.curve_keys) if args.curve_keys else None
        if args.worker is None:
            server.check_bind_policy(args.bind, curve, args.insecure_allow_remote)
        # Loading bundles by path is for local clients only; remote ones load by catalogue name.
        catalog = SceneCatalog(args.scene, args.scene_dir, allow_paths=server.is_local_endpoint(args.bind))
        encoders = load_encoders(args)
        recipe_model = load_recipe_model(args)
    except ValueError as e:
        print(f"vaf serve: {e}", file=sys.stderr)
        return 2
    if args.workers > 0:
        backend = args.backend or server.default_backend()
        if args.backend:
            server.check_bind_policy(backend, None, args.insecure_allow_remote)
        command = [sys.executable, "-m", "vaf", "serve", "--worker", backend, "--bind", args.bind, "--log-level", args.log_level,
                   "--surface-tolerance", str(args.surface_tolerance)]
        for ref in args.scene:
            command += ["--scene", ref]
        for d in args.scene_dir:
            command += ["--scene-dir", d]
        command += ["--no-encoders"] if encoders is None else ["--encoders", str(encoders.path)]
        command += ["--no-generator-model"] if recipe_model is None else ["--generator-model", str(recipe_model.path)]
        command += ["--warm", args.warm]
        server.run_proxy(args.bind, backend, command, args.workers, curve, stop)
        return 0
    service = Service(catalog, args.surface_tolerance, encoders, GeneratorSet.default(recipe_model), args.warm)
    for ref in catalog.preload:
        service.load(ref)
    if args.worker is not None:
        server.run_worker(service, args.worker, stop)
    else:
        server.run_server(service, args.bind, curve, stop)
    return 0


def load_encoders(args: argparse.Namespace):
    from vaf.runtime.encoders import DEFAULT_ENCODERS, OnnxEncoders

    if args.no_encoders:
        return None
    if args.encoders:
        return OnnxEncoders.load(args.encoders)
    return OnnxEncoders.load(DEFAULT_ENCODERS) if (DEFAULT_ENCODERS / "encoders.json").is_file() else None


def load_recipe_model(args: argparse.Namespace):
    from vaf.runtime.recipe_model import DEFAULT_GENERATOR, MANIFEST, OnnxRecipeModel

    if args.no_generator_model:
        return None
    if args.generator_model:
        return OnnxRecipeModel.load(args.generator_model)
    return OnnxRecipeModel.load(DEFAULT_GENERATOR) if (DEFAULT_GENERATOR / MANIFEST).is_file() else None


def keys(args: argparse.Namespace) -> int:
    from vaf.runtime.server import make_keys

    try:
        make_keys(args.dir)
    except FileExistsError as e:
        print(f"vaf keys: {e}", file=sys.stderr)
        return 1
    print(f"server keys in {args.dir}/server.key(_secret); a client pair in {args.dir}/client.key_secret, "
          f"allowed via {args.dir}/clients/client.key")
    return 0
