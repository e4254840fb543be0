"""Approval channels: where a human (or a replay stand-in) answers an approval request."""
