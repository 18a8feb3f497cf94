"""Benchmarks of fmnist-search: run each as ``python -m bench.<name>`` from the project root.

See BENCHMARKS.md for the figures they produced and the exact commands.
"""
