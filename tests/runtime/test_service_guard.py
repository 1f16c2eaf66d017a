"""A bug inside a request handler becomes an `internal` error reply; the service goes on."""

from __future__ import annotations

from vaf.runtime.protocol import pack
from vaf.runtime.scenes import SceneCatalog
from vaf.runtime.service import Service


def test_internal_failure_is_an_error_reply_and_service_continues(caplog):
    service = Service(SceneCatalog(["demo"]))
    scene = service.catalog.load("demo")
    point = scene.surface.points[0].tolist()
    scene.surface.index = None  # break the scene's surface index: the next contact hits a bug
    request = {"v": 1, "op": "contact", "id": 5, "scene_id": "demo", "position": point, "normal": [0, 1, 0],
               "impulse": 0.02, "speed": 1.0}
    (reply,) = list(service.handle(pack(request)))
    assert reply["op"] == "error" and reply["code"] == "internal" and reply["id"] == 5
    assert "internal error" in caplog.text
    assert list(service.handle(pack({"v": 1, "op": "ping", "id": 6})))[0]["op"] == "pong"
    assert service.stats.snapshot()["errors"] == {"internal": 1}
