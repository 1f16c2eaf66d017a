"""Data on disk: the capture layout (real or synthetic) and the seed paper's audio preprocessing."""
