"""Benchmarks for parallelai: one script, one table (`python -m bench.run`); not part of the tests."""
