"""Data on disk: the capture layout (real or synthetic) and training pairs read from it."""
