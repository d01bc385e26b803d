"""Benchmarks (not tests): `uv run python -m bench` writes BENCHMARKS.md. See README."""
