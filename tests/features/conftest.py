"""A tiny world dataset, tiny encoders trained on it and exported, and a feature scene: built once per session."""

from __future__ import annotations

import pytest

from vaf.export.encoders import export_encoders
from vaf.export.scene_build import build_feature_scene
from vaf.runtime.encoders import OnnxEncoders
from vaf.training.encoders.train import TrainConfig, train_encoders
from vaf.training.world.bundle import BundleConfig, build_bundle
from vaf.training.world.dataset import DatasetConfig, make_dataset
from vaf.training.world.scene import generate_scene

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
