"""Where the bundled default policy and runbooks live, installed or in a source checkout.

A wheel carries them under ``controller/_bundled/`` (hatch force-include); an editable
install or a plain checkout reads the repository's own ``policies/`` and ``runbooks/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled(relative: str) -> Path:
    """Path of a bundled file or folder such as ``policies/default.yaml``."""
    installed = _PACKAGE / "_bundled" / relative
    if installed.exists():
        return installed
    return _PACKAGE.parent / relative


def default_policy() -> Path:
    """The shipped deny-by-default policy."""
    return bundled("policies/default.yaml")


def default_runbooks() -> Path:
    """The shipped runbook folder."""
    return bundled("runbooks")
