"""Adapter tests against real backends or loopback fakes that speak the real protocol."""
