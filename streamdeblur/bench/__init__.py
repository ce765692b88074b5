"""Benchmarks behind ``streamdeblur bench``: speed and memory, measured, never asserted in tests."""
