"""Actuators apply a decided action: kill switch, re-read, compare, conditional write, record."""
