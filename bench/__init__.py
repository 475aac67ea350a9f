"""Benchmarks for sdd-harness (``make bench`` -> ``python bench/run.py``); see bench/README.md."""
