"""evalkit: evaluation and benchmarking harness for text-to-speech models.

Importing this package is cheap: no torch, no model code. See evalkit.api for the
Python entry points and `evalkit --help` for the command line.
"""
__version__ = "0.1.0"
