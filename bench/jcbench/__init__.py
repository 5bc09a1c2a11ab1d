"""Benchmarks of the operator on a private local kwok cluster (see bench/README.md)."""
