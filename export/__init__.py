"""The export tool: turns trained models and scenes into what the runtime loads (ONNX files, scene bundles)."""
