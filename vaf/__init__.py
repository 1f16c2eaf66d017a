"""VAF Bridge: generative audio-visual models for game engines.

Subpackages follow the repository's top-level folders: ``vaf.runtime`` (server,
protocol, client; no torch), ``vaf.training`` (sounding world, models) and the
native core ``vaf._native`` built from ``bindings/``.
"""

__version__ = "0.1.0"
