"""Wharf: serve ML models on Kubernetes with the SeldonDeployment v1 API."""

__version__ = "0.1.0"
