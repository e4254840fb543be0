"""``python -m controller`` runs the ``aiops`` command line."""

from controller.cli import main

main()
