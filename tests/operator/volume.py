"""A ConfigMap volume on disk, updated the way the kubelet updates one."""

from __future__ import annotations

import os
from pathlib import Path


class ConfigMapVolume:
    """A folder laid out as the kubelet lays out a ConfigMap volume, updated the same way:
    ``key -> ..data/key``, ``..data -> ..<version>``, and an update renames a new ``..data``
    symlink over the old one (the file itself is never written)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.version = 0

    def publish(self, files: dict[str, str]) -> None:
        self.version += 1
        target = self.root / f"..v{self.version}"
        target.mkdir()
        for name, text in files.items():
            (target / name).write_text(text, encoding="utf-8")
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(target.name)
        os.replace(tmp, self.root / "..data")
        for name in files:
            link = self.root / name
            if not link.is_symlink():
                link.symlink_to(f"..data/{name}")
