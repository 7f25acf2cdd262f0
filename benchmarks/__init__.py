"""Benchmarks of extruct-async against its targets and against what users write today.

``python -m benchmarks`` runs them all (see ``benchmarks/README.md``) and writes
``benchmarks/results/latest.md`` and ``latest.json``.
"""
