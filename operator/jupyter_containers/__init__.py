"""Jupyter Containers: self-service JupyterLab environments on Kubernetes."""

__version__ = "0.1.0"
