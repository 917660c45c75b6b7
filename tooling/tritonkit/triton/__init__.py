"""Triton model configuration, repository layout, validation and the local server."""
