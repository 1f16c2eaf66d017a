"""The training side: the sounding world (procedural scenes with physically based
impact acoustics) and, later, encoders, generators, losses, datasets and metrics."""
