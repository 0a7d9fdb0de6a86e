"""Shared fixtures for the TorToiSe tests: reference (tortoise-tts 3.0.0) model builders and helpers.

The reference is a test-only oracle. Only its model modules are imported (its api.py pulls in the
Hugging Face hub and more at import time).
"""
import dataclasses

import pytest
import torch


def perturb_(module: torch.nn.Module, seed: int, scale: float = 0.05) -> torch.nn.Module:
    """Add seeded noise to every parameter, so that no weight keeps a default value (ones, zeros).

    A model whose norms are all ones and whose output projections are zero would hide swapped or
    missing parameters from a parity test.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * scale)
    return module


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual.double() - expected.double()).norm() / expected.double().norm())


def seeded_init(build):
    """Run a module constructor under a fixed torch seed (its initial weights then do not depend
    on which tests ran before), leaving the global RNG state as it was."""

    def wrapper(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return build(*args, **kwargs)

    return wrapper


class Reference:
    """Builds tortoise-tts 3.0.0 modules (deterministically initialised) from evalkit's configs."""

    @seeded_init
    def autoregressive(self, config):
        from tortoise.models.autoregressive import UnifiedVoice

        return UnifiedVoice(
            layers=config.layers, model_dim=config.model_dim, heads=config.heads,
            max_text_tokens=config.max_text_tokens, max_mel_tokens=config.max_mel_tokens,
            max_conditioning_inputs=config.max_conditioning_inputs,
            number_text_tokens=config.number_text_tokens, start_text_token=config.start_text_token,
            number_mel_codes=config.number_mel_codes, start_mel_token=config.start_mel_token,
            stop_mel_token=config.stop_mel_token, mel_length_compression=config.mel_length_compression,
            checkpointing=False, train_solo_embeddings=False,
        ).eval()

    @seeded_init
    def clvp(self, config):
        from tortoise.models.clvp import CLVP

        return CLVP(**dataclasses.asdict(config), use_xformers=True).eval()

    @seeded_init
    def cvvp(self, config):
        from tortoise.models.cvvp import CVVP

        return CVVP(**dataclasses.asdict(config), dropout=0, cond_mask_percentage=0, speech_mask_percentage=0).eval()


@pytest.fixture(scope="module")
def single_thread():
    """One intra-op thread for tiny models: on a busy 2-core machine, OpenMP threads that spin-wait for
    a descheduled sibling made these tests 3-5x slower, and tiny tensors gain nothing from two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def perturb():
    return perturb_


@pytest.fixture(scope="session")
def rel_err():
    return relative_error


@pytest.fixture(scope="session")
def reference():
    pytest.importorskip("tortoise")
    pytest.importorskip("transformers")
    return Reference()
