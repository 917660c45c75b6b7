"""Kubernetes artefacts derived from the project's own sources (nothing here talks to a cluster)."""
