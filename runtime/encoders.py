"""The audio and image encoders as ONNX Runtime sessions (no torch): the folder export writes.

    encoders.json        format, version, dim, audio {onnx, sample_rate, clip_seconds, recordings_room (optional:
                         {rt60_s, direct_to_reverb_db}, the room its training recordings were heard in)},
                         image {onnx, size, window_m}
    audio_encoder.onnx   (B, T) preprocessed clip -> (B, dim) unit vectors
    image_encoder.onnx   (B, 3, S, S) RGB in [0, 1] -> (B, dim) unit vectors
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from vaf.runtime.preprocess import encoder_clip
from vaf.runtime.room import Room, room_of_manifest

FORMAT = "vaf-encoders"
MANIFEST = "encoders.json"
DEFAULT_ENCODERS = Path(__file__).resolve().parent / "assets" / "models" / "encoders"


def read_manifest(folder: Path, name: str, fmt: str) -> dict:
    """A model folder's JSON manifest, checked to be `fmt` version 1; ValueError naming the file otherwise."""
    try:
        m = json.loads((folder / name).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{folder}: no readable {name} ({e})") from None
    if not isinstance(m, dict) or m.get("format") != fmt or m.get("version") != 1:
        raise ValueError(f"{folder / name}: not a {fmt} v1 manifest")
    return m


def onnx_session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the server scales with processes, not threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass
class OnnxEncoders:
    dim: int
    sample_rate: int
    image_size: int
    window_m: float
    audio: ort.InferenceSession
    image: ort.InferenceSession
    path: Path
    fingerprint: str  # sha256 of both ONNX files, 16 hex digits: features must come from the same encoders
    recordings_room: Room | None = None  # the room of the recordings the audio encoder learnt from, when known

    @classmethod
    def load(cls, folder: str | Path = DEFAULT_ENCODERS) -> OnnxEncoders:
        folder = Path(folder)
        m = read_manifest(folder, MANIFEST, FORMAT)
        files = [folder / m["audio"]["onnx"], folder / m["image"]["onnx"]]
        digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
        room = room_of_manifest(m["audio"].get("recordings_room"), f"{folder / MANIFEST}: 'audio.recordings_room'")
        return cls(int(m["dim"]), int(m["audio"]["sample_rate"]), int(m["image"]["size"]), float(m["image"]["window_m"]),
                   onnx_session(files[0]), onnx_session(files[1]), folder, digest, room)

    def embed_audio(self, clips: np.ndarray) -> np.ndarray:
        """(B, T) clips already through encoder_clip -> (B, dim) float32."""
        return self.audio.run(None, {"audio": np.ascontiguousarray(clips, np.float32)})[0]

    def embed_sound(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """A raw recording at any rate -> (dim,) embedding (resampled, denoised, cropped, normalised first)."""
        return self.embed_audio(encoder_clip(audio, sample_rate, self.sample_rate)[None])[0]

    def embed_images(self, crops: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) float RGB in [0, 1] -> (B, dim) float32, in batches of 64."""
        x = np.ascontiguousarray(np.transpose(crops, (0, 3, 1, 2)), np.float32)
        return np.concatenate([self.image.run(None, {"image": x[i : i + 64]})[0] for i in range(0, len(x), 64)]) if len(x) \
            else np.zeros((0, self.dim), np.float32)
