"""Mask sources and 3D segments: painting levels, segments recovered from features lifted through
view-inconsistent masks (as SAM gives them), and the segment-anything path end to end with a tiny
SAM built in code."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
import trimesh

from vaf.export.scene_build import build_feature_scene, partial_folder
from vaf.runtime.cameras import around_objects
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import LoadedScene
from vaf.training.features.lift import lift_features
from vaf.training.features.masks import SamMasks, oracle_masks, paint_levels
from vaf.training.features.segments import segment_gaussians
from vaf.training.render.rasterizer import render
from vaf.cli import resume_hint


def test_the_smallest_covering_mask_of_each_level_wins():
    masks = np.zeros((3, 4, 4), bool)
    masks[0] = True  # level 2, everything
    masks[1, :2] = True  # level 1, top half
    masks[2, :1, :1] = True  # level 1, one pixel inside mask 1
    ids = paint_levels(masks, np.array([2, 1, 1]), 4, 4)
    assert (ids[..., 2] == 0).all()
    assert ids[0, 0, 1] == 2 and ids[0, 1, 1] == 1 and ids[3, 3, 1] == -1
    assert (ids[..., 0] == -1).all()
    assert (paint_levels(np.zeros((0, 4, 4), bool), np.zeros(0, int), 4, 4) == -1).all()  # SAM kept nothing


def test_segments_from_features_lifted_through_view_inconsistent_masks(painted_scene):
    """Oracle masks whose ids are shuffled in every view (SAM's ids mean nothing across views): the
    parts are still recovered from the lifted features."""
    b, parts, embed = painted_scene
    oracle, rng = oracle_masks(b.labels), np.random.default_rng(2)

    def shuffled(view):
        ids = oracle(view)
        remap = rng.permutation(int(ids.max()) + 1)
        return np.where(ids >= 0, remap[np.maximum(ids, 0)], -1)

    cams = around_objects(b.segments, 12, 96, np.random.default_rng(1))
    lifted = lift_features(b.gaussians, cams, shuffled, embed, parts.size, 0.6, 64)
    labels, segments = segment_gaussians(b.gaussians.positions, lifted.features, lifted.seen, min_gaussians=20)
    seen = lifted.seen  # hidden Gaussians only inherit their nearest seen neighbour's labels
    for level in (2, 1):  # objects, parts: here 0.96 / 0.91 purity, 0.91 / 0.88 coverage
        truth, found = b.labels[seen, level], labels[seen, level]
        # purity: each found segment is mostly one true segment; coverage: each true one mostly one found one
        purity = sum(np.bincount(np.unique(truth, return_inverse=True)[1][found == f]).max() for f in np.unique(found))
        coverage = sum(np.bincount(found[truth == t]).max() for t in np.unique(truth))
        assert purity / len(found) > 0.85 and coverage / len(found) > 0.8, (level, purity / len(found), coverage / len(found))
    by_id = {s.id: s for s in segments}
    for row in labels[:: 97]:  # nesting: subpart -> part -> object
        assert by_id[int(row[0])].parent == row[1] and by_id[int(row[1])].parent == row[2]
        assert [by_id[int(v)].level for v in row] == ["subpart", "part", "object"]


def tiny_sam() -> torch.nn.Module:
    """segment-anything's architecture at toy size, random weights: the code path, not the quality."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(0)
    size, patch, dim = 64, 16, 32
    return Sam(image_encoder=ImageEncoderViT(img_size=size, patch_size=patch, embed_dim=32, depth=1, num_heads=2, out_chans=dim),
               prompt_encoder=PromptEncoder(embed_dim=dim, image_embedding_size=(size // patch,) * 2,
                                            input_image_size=(size, size), mask_in_chans=4),
               mask_decoder=MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(depth=1, embedding_dim=dim,
                                                                                              mlp_dim=64, num_heads=2),
                                        transformer_dim=dim, iou_head_depth=1, iou_head_hidden_dim=16),
               pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])


def test_sam_masks_and_a_scene_segmented_by_them(feature_scene, tiny_encoders, tmp_path):
    sam = SamMasks(tiny_sam(), points_per_side=4, iou_threshold=-1e9, stability_threshold=-1e9, min_pixels=1)
    b = SceneBundle.load(feature_scene)
    view = render(b.gaussians, around_objects(b.segments, 1, 64, np.random.default_rng(0))[0])
    ids = sam(view)
    assert ids.shape == (64, 64, 3) and ids.dtype == np.int32
    assert (ids[view.top < 0] == -1).all() and (ids >= 0).any()
    strict = SamMasks(tiny_sam(), points_per_side=2, iou_threshold=2.0)  # no mask can pass: a view without masks
    assert (strict(view) == -1).all()

    plain = feature_scene.parent / "plain"
    built = build_feature_scene(plain, tmp_path / "sam_scene", tiny_encoders, views=3, image_size=64, progress=False,
                                masks=sam)
    loaded = SceneBundle.load(tmp_path / "sam_scene")
    assert loaded.acoustics is None and loaded.features_source["masks"] == "SamMasks"
    assert np.array_equal(loaded.labels, built.labels)
    subparts = {s.id for s in loaded.segments if s.level == "subpart"}
    glb = trimesh.load(trimesh.util.wrap_as_stream(loaded.collision_mesh), file_type="glb")
    assert {name.removeprefix("seg_") for name in glb.graph.nodes_geometry} == {str(s) for s in subparts}
    scene = LoadedScene.of("sam", loaded)  # the runtime serves it: localize ranks the new parts
    ranked = scene.localizer.rank(np.eye(tiny_encoders.dim, dtype=np.float32)[0], "part", 3)
    assert ranked and all(r.level == "part" for r in ranked)


def test_sam_checkpoint_errors_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="sam checkpoint.*does not exist"):
        SamMasks.from_checkpoint(tmp_path / "sam_vit_b.pth")
    with pytest.raises(ValueError, match="vit_b, vit_l, vit_h"):
        SamMasks.from_checkpoint(tmp_path / "sam_vit_b.pth", "vit_q")
    torch.save(tiny_sam().state_dict(), tmp_path / "tiny.pth")  # a checkpoint of another architecture
    with pytest.raises(ValueError, match="does not fit vit_b"):
        SamMasks.from_checkpoint(tmp_path / "tiny.pth", "vit_b")


class StoppingSam:
    """SamMasks (toy size, random weights) named as if loaded from a checkpoint, counting the views it segments;
    at view `stop_at` it stops the build as Ctrl-C would."""

    def __init__(self, stop_at: int | None = None):
        self.sam = SamMasks(tiny_sam(), points_per_side=4, iou_threshold=-1e9, stability_threshold=-1e9, min_pixels=1)
        self.sam.checkpoint = {"checkpoint": "tiny_sam.pth", "model": "tiny"}
        self.stop_at, self.calls = stop_at, 0

    def identity(self) -> dict | None:
        return self.sam.identity()

    def __call__(self, view) -> np.ndarray:
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        self.calls += 1
        return self.sam(view)


def test_a_stopped_sam_build_resumes_where_it_stopped(feature_scene, tiny_encoders, tmp_path):
    plain = feature_scene.parent / "plain"

    def build(out, masks, image_size=64):
        return build_feature_scene(plain, out, tiny_encoders, views=4, image_size=image_size, progress=False, masks=masks)

    whole = build(tmp_path / "whole", StoppingSam())
    assert not partial_folder(tmp_path / "whole").exists()  # gone once the build is done
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "scene", StoppingSam(stop_at=2))
    assert not (tmp_path / "scene").exists()
    assert sorted(p.name for p in partial_folder(tmp_path / "scene").iterdir()) == ["key.json", "view_0000.npy",
                                                                                      "view_0001.npy"]
    hint = resume_hint(argparse.Namespace(out=str(tmp_path / "scene")))  # what Ctrl-C on `vaf scene build` says
    assert hint == f"; the masks of 2 views are kept in {partial_folder(tmp_path / 'scene')}: the same command resumes there"
    with pytest.raises(ValueError, match=r"scene\.partial holds the masks of another build \(image_size: 64 -> 96\)"):
        build(tmp_path / "scene", StoppingSam(), image_size=96)
    assert len(list(partial_folder(tmp_path / "scene").glob("view_*.npy"))) == 2  # refused, not overwritten
    again = StoppingSam()
    resumed = build(tmp_path / "scene", again)
    assert again.calls == 2  # the two views the stopped build had not segmented
    np.testing.assert_array_equal(resumed.features, whole.features)
    np.testing.assert_array_equal(resumed.labels, whole.labels)
    assert not partial_folder(tmp_path / "scene").exists()
    plain_sam = StoppingSam().sam  # built in code: nothing names its weights, nothing is kept
    plain_sam.checkpoint = None
    assert plain_sam.identity() is None
    build(tmp_path / "in_code", plain_sam)
    assert not partial_folder(tmp_path / "in_code").exists()
