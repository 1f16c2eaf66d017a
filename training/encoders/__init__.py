"""Audio-visual encoders (AudioCLIP-style): an image tower and an audio tower into one space."""
