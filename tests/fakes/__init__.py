"""Honest in-memory fakes of the ports in ``audit.services.ports``, for service unit tests.

Honest means: each fake refuses what its real adapter refuses, with the same
error type — ``create`` of an existing id answers False or ``duplicate``
(409), a write at a stale version raises ``ConflictError``, a missing record
``NotFound``, a refused document is ``rejected`` with the node's reason, and
``outages`` make calls raise ``StoreUnavailable`` as an unreachable node does.

One module per port area, as in ``audit/services/ports``: ``ingest``,
``incidents``, ``integrity``, ``retention``; plus ``clock`` and ``faults``.
``tests/integration/test_fakes_contract.py`` runs the same assertions against
the fakes and the real adapters.
"""
