"""Evaluation of trained models on held-out scenes; tables for docs/results.md."""
