"""The heard-material term: a material judge learnt from recordings, frozen, and its cross-entropy on
generated clips as a training term (training/generator/judge.py, losses.heard_material_loss)."""

from __future__ import annotations

import pytest
import torch

from vaf.training.encoders.logmel import LogMel
from vaf.training.generator.judge import MaterialJudge, fit_material_judge, judge_accuracy
from vaf.training.generator.losses import rms_normalise
from vaf.training.generator.models import build_generator
from vaf.training.generator.synth import render_modes
from vaf.training.generator.train import GeneratorObjective, GeneratorTrainConfig, train_generator

RATE, FRAMES = 16000, 8000


def ringing_or_dull(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips of two made-up materials at random pitches (200 Hz - 2 kHz): class 0 rings for a second
    with one partial, class 1 dies in ~20 ms with four; RMS-normalised like recordings."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    base = 200 * 10 ** torch.rand(count, 1, generator=g)
    partials = torch.tensor([1.0, 2.76, 5.40, 8.93])
    freq = base * partials
    decay = torch.where(labels[:, None] == 0, torch.tensor([3.0, 400.0, 400.0, 400.0]), torch.full((4,), 50.0))
    amplitude = torch.where(labels[:, None] == 0, torch.tensor([1.0, 0.0, 0.0, 0.0]), torch.full((4,), 0.5))
    return rms_normalise(render_modes(freq, decay, amplitude, RATE, FRAMES)), labels


def test_the_judge_learns_materials_from_clips_and_is_frozen_after():
    mel = LogMel(RATE)
    clips, labels = ringing_or_dull(64, seed=0)
    held_clips, held_labels = ringing_or_dull(32, seed=1)
    judge = MaterialJudge(2)
    assert judge_accuracy(judge, held_clips, held_labels, mel) <= 0.75  # untrained: no better than a coin, give or take
    torch.manual_seed(5)
    expected_next = torch.rand(3)
    torch.manual_seed(5)
    fit_material_judge(judge, clips, labels, mel, epochs=15, batch=16, progress=False)
    assert torch.equal(torch.rand(3), expected_next)  # the caller's random stream is untouched
    assert judge_accuracy(judge, held_clips, held_labels, mel) >= 0.9
    assert not judge.training and not any(p.requires_grad for p in judge.parameters())


@pytest.fixture(scope="module")
def tiny_judge(tiny_hits, tiny_recipe):
    train, _ = tiny_hits
    net = build_generator(tiny_recipe)
    objective = GeneratorObjective(train, net.config, 0.0, 0.0)
    return fit_material_judge(MaterialJudge(len(net.config.materials)), objective.targets, objective.material,
                              objective.spectral.mel, epochs=40, batch=16, progress=False)


def test_the_term_joins_the_loss_at_its_weight_and_needs_a_judge(tiny_hits, tiny_recipe, tiny_judge):
    torch.manual_seed(0)
    net = build_generator({**tiny_recipe, "room": False}).eval()
    index = torch.arange(8)
    off, on = (GeneratorObjective(tiny_hits[0], net.config, 0.0, 0.0, heard_material_weight=w, judges={"material": [tiny_judge]})
               for w in (0.0, 2.0))
    with torch.no_grad():
        (loss_off, parts), (loss_on, _) = off(net, index, index), on(net, index, index)
    assert parts["heard_material_ce"] > 0
    assert (loss_on - loss_off).item() == pytest.approx(2.0 * parts["heard_material_ce"], rel=1e-4)
    with pytest.raises(ValueError, match="needs a material judge"):
        GeneratorObjective(tiny_hits[0], net.config, 0.0, 0.0, heard_material_weight=1.0)
    with pytest.raises(ValueError, match="heard_material_weight"):
        GeneratorTrainConfig(heard_material_weight=-1.0)
    with pytest.raises(ValueError, match="judge_epochs"):
        GeneratorTrainConfig(judge_epochs=0)
    with pytest.raises(ValueError, match="judges"):
        GeneratorTrainConfig(judges=0)


def test_the_term_moves_the_generated_clips_towards_their_material(term_after_steps, tiny_recipe, tiny_judge):
    """The same 30 steps from the same start, without and with the term: with it, the frozen judge hears
    the generated clips as their material more surely; the judge's weights do not move."""
    judge_before = [p.clone() for p in tiny_judge.parameters()]
    heard_after = lambda w: term_after_steps(tiny_recipe, "heard_material_ce", heard_material_weight=w,  # noqa: E731
                                             judges={"material": [tiny_judge]})
    (start, without), (same_start, with_term) = heard_after(0.0), heard_after(20.0)
    assert start == same_start
    assert with_term < 0.8 * without, (start, without, with_term)
    assert all(torch.equal(a, b) for a, b in zip(judge_before, tiny_judge.parameters()))


def test_several_judges_each_have_their_say(tiny_hits, tiny_recipe, tiny_judge):
    """The term over a panel is the mean of each judge's own cross-entropy, so a generator cannot drive it to 0 by
    pleasing one of them."""
    torch.manual_seed(0)
    net = build_generator({**tiny_recipe, "room": False}).eval()
    train, _ = tiny_hits
    objective = GeneratorObjective(train, net.config, 0.0, 0.0)
    other = fit_material_judge(MaterialJudge(len(net.config.materials)), objective.targets, objective.material,
                               objective.spectral.mel, epochs=40, batch=16, seed=1, progress=False)
    index = torch.arange(8)
    with torch.no_grad():
        alone = [GeneratorObjective(train, net.config, 0.0, 0.0, heard_material_weight=1.0, judges={"material": [j]})(net, index, index)[1]
                 ["heard_material_ce"] for j in (tiny_judge, other)]
        panel = GeneratorObjective(train, net.config, 0.0, 0.0, heard_material_weight=1.0,
                                   judges={"material": [tiny_judge, other]})(net, index, index)[1]["heard_material_ce"]
    assert alone[0] != pytest.approx(alone[1], rel=1e-3)  # another seed, another judge
    assert panel == pytest.approx(sum(alone) / 2, rel=1e-5)


@pytest.mark.parametrize("judges", [1, 2])
def test_training_keeps_the_judges_in_the_checkpoint(tiny_dataset, tiny_encoders, tiny_hits, tiny_recipe, tmp_path, judges):
    """A run with the term fits its judges once (each from its own seed), saves them beside the network and reports
    how well each hears the held-out recordings; resuming a finished run re-fits nothing."""
    train, test = tiny_hits
    config = GeneratorTrainConfig(epochs=1, batch=8, views=4, model=dict(tiny_recipe), heard_material_weight=0.5,
                                  judge_epochs=2, judges=judges)
    report = train_generator(tiny_dataset, tmp_path, config, tiny_encoders.path, progress=False, train=train, test=test)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert {"judges", "model"} <= set(saved)
    assert all(f"material.{k}.level_mean" in saved["judges"] for k in range(judges))
    if judges == 2:
        assert not torch.equal(saved["judges"]["material.0.head.weight"], saved["judges"]["material.1.head.weight"])
    accuracy = report["judges_held_out_accuracy"]
    assert list(accuracy) == ["material"]
    assert len(accuracy["material"]) == judges and all(0.0 <= a <= 1.0 for a in accuracy["material"])
    assert "heard_material_ce" in report["history"][0]["held_out"]
    again = train_generator(tiny_dataset, tmp_path, config, tiny_encoders.path, progress=False, train=train, test=test)
    assert again["history"] == report["history"]
    assert again["judges_held_out_accuracy"] == accuracy


def test_judges_of_part_kinds_name_each_kind_and_leave_unknown_kinds_out(tiny_dataset, tiny_encoders, tiny_hits,
                                                                          tiny_recipe, tmp_path):
    """`judge_target="kind"`: the judges learn the training hits' part kinds (material and class), a held-out hit of
    a kind no training hit has is left out of the term (cross-entropy's ignored class), and the run's judges have
    one output per training kind."""
    train, test = tiny_hits
    kinds = sorted(set(train.kind.tolist()))
    net = build_generator(dict(tiny_recipe))
    held_out = GeneratorObjective(test, net.config, 0.0, 0.0, kinds=kinds)
    for kind, label in zip(test.kind, held_out.labels["kind"].tolist()):
        assert label == (kinds.index(kind) if kind in kinds else -100)
    unknown = torch.tensor([-100] * 4 + [0] * 4)
    judge = MaterialJudge(len(kinds))
    clips = torch.tensor(train.targets[:8])
    from vaf.training.generator.losses import heard_material_loss

    partly = heard_material_loss(clips, unknown, [judge], held_out.spectral.mel).item()
    assert partly == pytest.approx(heard_material_loss(clips[4:], unknown[4:], [judge], held_out.spectral.mel).item())
    assert heard_material_loss(clips[:4], unknown[:4], [judge], held_out.spectral.mel).item() == 0.0  # none known
    config = GeneratorTrainConfig(epochs=1, batch=8, views=4, model=dict(tiny_recipe), heard_material_weight=0.5,
                                  judge_epochs=2, judge_target="kind")
    report = train_generator(tiny_dataset, tmp_path, config, tiny_encoders.path, progress=False, train=train, test=test)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert saved["judges"]["kind.0.head.weight"].shape[0] == len(kinds) != len(net.config.materials)
    assert 0.0 <= report["judges_held_out_accuracy"]["kind"][0] <= 1.0
    assert report["history"][0]["held_out"]["heard_kind_ce"] >= 0.0  # finite: NaN fails any comparison
    with pytest.raises(ValueError, match="judge_target"):
        GeneratorTrainConfig(judge_target="colour")


def test_both_panels_each_have_their_say_and_are_kept(tiny_dataset, tiny_encoders, tiny_hits, tiny_recipe, tiny_judge,
                                                      tmp_path):
    """`judge_target="both"`: a material panel and a kind panel; the term is the sum of each panel's own term at the
    weight, both are fitted, saved and reported, and a kind panel needs the kinds it names."""
    train, test = tiny_hits
    kinds = sorted(set(train.kind.tolist()))
    torch.manual_seed(0)
    net = build_generator({**tiny_recipe, "room": False}).eval()
    labelled = GeneratorObjective(train, net.config, 0.0, 0.0, kinds=kinds)
    kind_judge = fit_material_judge(MaterialJudge(len(kinds)), labelled.targets, labelled.labels["kind"],
                                    labelled.spectral.mel, epochs=20, batch=16, progress=False)
    index = torch.arange(8)
    panels = {"material": [tiny_judge], "kind": [kind_judge]}
    with torch.no_grad():
        alone = [GeneratorObjective(train, net.config, 0.0, 0.0, heard_material_weight=1.5, judges={t: panels[t]},
                                    kinds=kinds)(net, index, index) for t in panels]
        loss, parts = GeneratorObjective(train, net.config, 0.0, 0.0, heard_material_weight=1.5, judges=panels,
                                         kinds=kinds)(net, index, index)
    assert parts["heard_material_ce"] == pytest.approx(alone[0][1]["heard_material_ce"], rel=1e-5)
    assert parts["heard_kind_ce"] == pytest.approx(alone[1][1]["heard_kind_ce"], rel=1e-5)
    without = alone[0][0] - 1.5 * alone[0][1]["heard_material_ce"]
    assert (loss - without).item() == pytest.approx(1.5 * (parts["heard_material_ce"] + parts["heard_kind_ce"]), rel=1e-4)
    with pytest.raises(ValueError, match="needs `kinds`"):
        GeneratorObjective(train, net.config, 0.0, 0.0, heard_material_weight=1.0, judges={"kind": [kind_judge]})
    config = GeneratorTrainConfig(epochs=1, batch=8, views=4, model=dict(tiny_recipe), heard_material_weight=0.5,
                                  judge_epochs=2, judges=2, judge_target="both")
    report = train_generator(tiny_dataset, tmp_path, config, tiny_encoders.path, progress=False, train=train, test=test)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["judges"]
    assert {saved[f"{t}.{k}.head.weight"].shape[0] for t in ("material", "kind") for k in (0, 1)} == \
        {len(net.config.materials), len(kinds)}
    assert {t: len(a) for t, a in report["judges_held_out_accuracy"].items()} == {"material": 2, "kind": 2}
    assert {"heard_material_ce", "heard_kind_ce"} <= set(report["history"][0]["held_out"])
