"""The sounding world: procedural scenes of everyday objects with physically based impact acoustics.

Materials (vaf.runtime.materials) -> parts with modal models (parts, modal) -> objects
(objects) -> scenes (scene) -> scene bundles with splats, labels, acoustics and previews
(bundle, preview). docs/world.md explains the physics and its simplifications.
"""
