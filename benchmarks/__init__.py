"""Benchmarks: figures as ratios against a floor measured in the same run (docs/PERFORMANCE.md)."""
