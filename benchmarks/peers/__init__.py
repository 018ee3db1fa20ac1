"""Peer servers for `benchmarks/serving.py --peers`: the same ONNX model behind other frameworks."""
