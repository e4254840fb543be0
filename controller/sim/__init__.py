"""Simulated side effects shared by ``aiops replay`` and the tests.

Clock, cluster, kill switch and ledger twins of the ports in ``controller.ports``.
"""
