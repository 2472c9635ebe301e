"""Benchmarks behind ``anju bench …``; each prints JSON figures, never asserts timings."""
