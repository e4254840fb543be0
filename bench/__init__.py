"""Replay benchmarks: synthetic fleet-sized incident files and a timing harness.

Not part of the wheel. ``python -m bench.replay`` generates the files, replays each in a
child process and prints wall time, peak RSS and the ratio against a rolling z-score floor
measured over the same data; see bench/README.md.
"""
