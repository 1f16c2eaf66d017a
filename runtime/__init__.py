"""The VAF Bridge runtime: server, wire protocol, scene bundles, generators and client.

Imports no torch: models run through ONNX Runtime and the native core (vaf._native).
"""
