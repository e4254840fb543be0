"""Offline replay of incident files on a simulated clock through the live decision code."""
