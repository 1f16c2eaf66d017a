"""Per-Gaussian multi-level features: metric crops of segments, embedded and lifted onto the splats."""
