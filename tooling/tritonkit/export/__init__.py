"""Export a model into verified ONNX variants (needs the `export` extra: torch, transformers, optimum-onnx)."""
