"""Cameras and a CPU rasterizer of 3D Gaussian splats (RGB, depth, top Gaussian per pixel)."""
