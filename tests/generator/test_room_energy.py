"""The learnt room (RecipeConfig.room): its energy twin of runtime/room.py, the losses through it, the net's parameters."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from vaf.runtime.recipe_model import MANIFEST, OnnxRecipeModel
from vaf.runtime.room import REFLECTION_DELAY_S, Room, reverberate
from vaf.training.generator.losses import SpectralLoss, decay_loss
from vaf.training.generator.models import ROOM_START, build_generator
from vaf.training.generator.room import RoomEnergy
from vaf.training.generator.train import GeneratorObjective, load_generator

RATE = 24000


def ring(hz: float = 700.0, decay: float = 30.0, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.exp(-decay * t) * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def room_energy(room: Room) -> RoomEnergy:
    return RoomEnergy(torch.tensor(room.rt60_s), torch.tensor(10 ** (-room.direct_to_reverb_db / 20)), RATE)


@pytest.mark.parametrize("hop", [1, 32, 240, 512])
def test_the_tail_holds_the_rooms_energy_from_the_first_reflection(hop):
    kernel = room_energy(Room(0.3, 6.0)).kernel(hop, 200_000 // hop)
    assert kernel.sum().item() == pytest.approx(10 ** (-6 / 10), rel=1e-4)
    first = np.flatnonzero(kernel.numpy())[0]  # the first step at or after the first reflection, never step 0
    assert first == max(1, math.ceil(REFLECTION_DELAY_S * RATE / hop - 1e-9))


def test_the_energy_twin_is_the_expectation_of_the_runtime_room():
    """Averaged over many tails, the energy of runtime.room.reverberate follows RoomEnergy.heard, per 40 ms
    block (a ringing mode's reverberation stays correlated for about 1 / its decay rate, so shorter blocks
    average too few independent draws), wherever the sound is within 40 dB of its loudest block (past that,
    the runtime response's cut at RT60 shows)."""
    dry, room = ring(700.0, 30.0) + ring(1900.0, 80.0) + ring(4100.0, 200.0), Room(0.3, 4.0)
    wet = np.stack([reverberate(dry, room, RATE, seed) for seed in range(1500)]).astype(np.float64)
    expected = room_energy(room).heard(torch.tensor(dry, dtype=torch.float64)[None] ** 2, 1)[0].numpy()
    blocks = lambda e: e[: e.size // 960 * 960].reshape(-1, 960).sum(axis=1)  # noqa: E731
    measured, predicted = blocks((wet**2).mean(axis=0)), blocks(expected)
    loud = predicted > 1e-4 * predicted.max()
    assert loud.sum() >= 5
    np.testing.assert_allclose(measured[loud], predicted[loud], rtol=0.1)
    dry_blocks = blocks(dry.astype(np.float64) ** 2)
    assert predicted[loud].sum() > 1.3 * dry_blocks[loud].sum()  # the room adds what the dry sound lacks


def test_the_losses_prefer_the_room_the_recording_was_made_in():
    """A dry render against its own recording in a room: judged in that room the decay loss (what learns the room)
    is lower than judged dry or in a much drier or wetter room; on these clean rings the spectral loss agrees
    (on the world's denoised recordings it prefers a drier room: docs/results.md)."""
    dry = torch.tensor(np.stack([ring(700.0, 60.0), ring(2300.0, 120.0)]))
    recorded = torch.tensor(np.stack([reverberate(d, Room(0.4, 3.0), RATE, seed) for seed, d in enumerate(dry.numpy())]))
    spectral = SpectralLoss(RATE)
    rooms = {"none": None, "true": room_energy(Room(0.4, 3.0)), "drier": room_energy(Room(0.1, 20.0)),
             "wetter": room_energy(Room(2.0, -6.0))}
    s = {k: spectral(dry, recorded, r).item() for k, r in rooms.items()}
    d = {k: decay_loss(dry, recorded, room=r).item() for k, r in rooms.items()}
    assert s["true"] < min(s["none"], s["drier"], s["wetter"]), s
    assert d["true"] < min(d["none"], d["drier"], d["wetter"]), d


def test_training_reports_the_learnt_room_and_the_export_ships_it(tiny_generator):
    folder, runtime = tiny_generator
    net = load_generator(folder / "generator.pt")
    reported = json.loads((folder / "training.json").read_text())["room"]
    assert reported == pytest.approx(net.learnt_room())
    assert reported != pytest.approx({"rt60_s": ROOM_START[0], "direct_to_reverb_db": ROOM_START[1]})  # it moved
    shipped = OnnxRecipeModel.load(runtime).room
    assert (shipped.rt60_s, shipped.direct_to_reverb_db) == pytest.approx((reported["rt60_s"], reported["direct_to_reverb_db"]))


def test_a_broken_room_in_the_manifest_is_named(tiny_generator, tmp_path):
    _, runtime = tiny_generator
    broken = tmp_path / "model"
    shutil.copytree(runtime, broken)
    manifest = json.loads((broken / MANIFEST).read_text())
    for bad in ({"rt60_s": 99.0, "direct_to_reverb_db": 6.0}, {"rt60": 0.3}):
        (broken / MANIFEST).write_text(json.dumps({**manifest, "room": bad}))
        with pytest.raises(ValueError, match="room"):
            OnnxRecipeModel.load(broken)
    (broken / MANIFEST).write_text(json.dumps({k: v for k, v in manifest.items() if k != "room"}))  # made before rooms
    assert OnnxRecipeModel.load(broken).room is None


def test_a_room_net_starts_from_its_room_and_learns_it_through_the_loss(tiny_hits, tiny_recipe):
    train, _ = tiny_hits
    torch.manual_seed(0)
    net = build_generator(tiny_recipe)
    assert net.learnt_room() == pytest.approx({"rt60_s": ROOM_START[0], "direct_to_reverb_db": ROOM_START[1]})
    objective = GeneratorObjective(train, net.config, 0.2, 0.3, decay_weight=4.0, band_decay_weight=4.0)
    loss, _ = objective(net, torch.arange(8), torch.arange(8))
    loss.backward()
    assert net.room.grad is not None and torch.all(net.room.grad != 0)
    # the spectral terms hear the room (the net's gradient changes with it) but do not move it
    spectral_only = GeneratorObjective(train, net.config, 0.0, 0.0)
    net.zero_grad()
    spectral_only(net, torch.arange(8), torch.arange(8))[0].backward()
    assert not net.room.grad.any() and net.bins.weight.grad.abs().sum() > 0
    heard = net.bins.weight.grad.clone()
    net.zero_grad()
    with torch.no_grad():
        net.room[1] -= 3.0  # a much drier room
    spectral_only(net, torch.arange(8), torch.arange(8))[0].backward()
    assert not torch.allclose(net.bins.weight.grad, heard)
    dry = build_generator({**tiny_recipe, "room": False})
    assert dry.learnt_room() is None and dry.room_energy(RATE) is None and not hasattr(dry, "room")


def test_without_a_room_the_losses_are_the_dry_ones():
    dry = torch.tensor(np.stack([ring(500.0, 20.0)]))
    target = torch.tensor(np.stack([ring(520.0, 25.0)]))
    silent_room = RoomEnergy(torch.tensor(0.3), torch.tensor(0.0), RATE)  # a room whose tail has no energy
    spectral = SpectralLoss(RATE)
    assert spectral(dry, target, silent_room).item() == pytest.approx(spectral(dry, target).item(), rel=1e-5)
    assert decay_loss(dry, target, room=silent_room).item() == pytest.approx(decay_loss(dry, target).item(), rel=1e-5)
    assert math.isfinite(spectral(torch.zeros_like(dry), target, room_energy(Room(0.3))).item())


def test_the_eval_scores_a_room_model_dry_and_in_its_room(tiny_generator, tiny_hits):
    """Two rows: what a game gets, and what a contact asking for the model's room gets (longer tails)."""
    from vaf.training.eval.generator import realtime_clips

    _, runtime = tiny_generator
    _, test = tiny_hits
    dry, wet = realtime_clips(runtime, test)
    assert dry.name.endswith("dry") and "in its learnt room" in wet.name and dry.audio.shape == wet.audio.shape
    late = lambda clips: np.mean((clips[:, clips.shape[1] // 4 :] ** 2).sum(axis=1) / (clips**2).sum(axis=1))  # noqa: E731
    assert late(wet.audio) > late(dry.audio)
