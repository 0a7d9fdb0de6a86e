"""TorToiSe's five-model pipeline, reimplemented (parity-tested against tortoise-tts 3.0.0).

Import-light on purpose: the component modules import torch, this package does not.
"""
