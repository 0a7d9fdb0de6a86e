"""evalkit.tortoise.dvae (EXPERIMENTAL): layout from public DL-Art-School sources, codes, strict loading."""
import math

import pytest
import torch

from evalkit.tortoise.dvae import (
    OFFICIAL_DVAE,
    TINY_DVAE,
    DiscreteVAE,
    expected_checkpoint_shapes,
    load_dvae_state_dict,
)


def _random_checkpoint(config, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=g) * 0.2 for k, shape in expected_checkpoint_shapes(config).items()}


def _loaded(config=TINY_DVAE, seed=0):
    model = DiscreteVAE(config).eval()
    load_dvae_state_dict(model, _random_checkpoint(config, seed))
    return model


def test_official_layout_is_what_the_sources_describe():
    """DL-Art-School lucidrains_dvae.py: channels 80, hidden 512, codebook 512 x 8192, 2 layers, 3 resblocks, k 3."""
    shapes = expected_checkpoint_shapes(OFFICIAL_DVAE)
    assert len(shapes) == 53
    assert shapes["encoder.0.0.weight"] == (512, 80, 3)  # stride-2 stage 1: 80 mel bins -> hidden_dim
    assert shapes["encoder.1.0.weight"] == (1024, 512, 3)  # stride-2 stage 2 doubles the width
    for block in (2, 3, 4):
        assert shapes[f"encoder.{block}.net.0.weight"] == (1024, 1024, 3)
        assert shapes[f"encoder.{block}.net.4.weight"] == (1024, 1024, 1)
    assert shapes["encoder.5.weight"] == (512, 1024, 1)  # to codebook_dim
    assert shapes["codebook.embed"] == shapes["codebook.embed_avg"] == (512, 8192)
    assert shapes["decoder.0.weight"] == (1024, 512, 1)
    assert shapes["decoder.4.0.conv.weight"] == (1024, 1024, 3)  # UpsampledConv (use_transposed_convs false)
    assert shapes["decoder.5.0.conv.weight"] == (512, 1024, 3)
    assert shapes["decoder.6.weight"] == (80, 512, 1)
    encoder_params = sum(math.prod(s) for k, s in shapes.items() if k.startswith("encoder."))
    assert encoder_params == sum(p.numel() for p in DiscreteVAE(OFFICIAL_DVAE).parameters())
    # Our module is exactly the encoder + codebook part of that checkpoint.
    ours = {k: tuple(v.shape) for k, v in DiscreteVAE(OFFICIAL_DVAE).state_dict().items()}
    assert ours == {k: s for k, s in shapes.items() if not k.startswith("decoder.")}


def test_codes_shape_range_and_determinism():
    model = _loaded()
    mel = torch.randn(2, 80, 37, generator=torch.Generator().manual_seed(1))
    codes = model.get_codebook_indices(mel)
    assert codes.shape == (2, math.ceil(37 / 4)) and codes.dtype == torch.long
    assert 0 <= codes.min() and codes.max() < TINY_DVAE.num_tokens
    assert torch.equal(codes, model.get_codebook_indices(mel))
    assert torch.equal(codes[1:], model.get_codebook_indices(mel[1:]))  # items are independent


def test_codes_are_the_nearest_codebook_vectors():
    model = _loaded()
    mel = torch.randn(1, 80, 40, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        vectors = model.encoder(mel)[0].T  # (frames, codebook_dim)
    nearest = torch.cdist(vectors, model.codebook.embed.T).argmin(dim=1)
    assert torch.equal(model.get_codebook_indices(mel)[0], nearest)


def test_codes_from_audio_uses_the_ar_mel():
    from evalkit.tortoise.audio import ar_mel

    model = _loaded()
    wav = 0.1 * torch.randn(22050, generator=torch.Generator().manual_seed(3))
    codes = model.codes_from_audio(wav)
    assert codes.shape == (1, math.ceil((22050 // 256 + 1) / 4))
    assert torch.equal(codes, model.get_codebook_indices(ar_mel(wav)))


def test_strict_load_names_what_does_not_match():
    checkpoint = _random_checkpoint(TINY_DVAE)
    del checkpoint["decoder.0.weight"]
    checkpoint["discrete_loss.accumulator"] = torch.zeros(3)
    checkpoint["encoder.0.0.weight"] = torch.zeros(1, 2, 3)
    with pytest.raises(ValueError) as error:
        load_dvae_state_dict(DiscreteVAE(TINY_DVAE), checkpoint, source="dvae.pth")
    message = str(error.value)
    assert "dvae.pth" in message and "EXPERIMENTAL" in message
    assert "missing: decoder.0.weight" in message
    assert "unexpected: discrete_loss.accumulator" in message
    assert "encoder.0.0.weight: (1, 2, 3)" in message


def test_load_keeps_the_checkpoint_values():
    checkpoint = _random_checkpoint(TINY_DVAE, seed=4)
    model = DiscreteVAE(TINY_DVAE)
    load_dvae_state_dict(model, checkpoint)
    for key, value in model.state_dict().items():
        assert torch.equal(value, checkpoint[key]), key
