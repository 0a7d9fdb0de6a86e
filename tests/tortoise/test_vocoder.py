"""Parity of evalkit.tortoise.vocoder with tortoise-tts 3.0.0's UnivNetGenerator (CPU, float32)."""
import os
import warnings

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("tortoise")

from evalkit.tortoise.vocoder import (  # noqa: E402
    OFFICIAL_UNIVNET,
    PAD_FRAMES,
    TINY_UNIVNET,
    UnivNetGenerator,
    convert_official_state_dict,
    location_variable_conv,
)


def _reference(config, seed=0):
    """The reference generator, weight-normalised as the checkpoint stores it, with perturbed random weights."""
    from tortoise.models.vocoder import UnivNetGenerator as Reference

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm deprecation
        ref = Reference(noise_dim=config.noise_dim, channel_size=config.channels, dilations=list(config.dilations),
                        strides=list(config.strides), lReLU_slope=config.leaky_slope,
                        kpnet_conv_size=config.kpnet_conv_size, n_mel_channels=config.n_mels)
    with torch.no_grad():  # weight_g starts as ||weight_v||; perturb so folding is really exercised
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ref.eval()  # the reference's eval() returns None
    return ref


def _ours_from(ref, config):
    ours = UnivNetGenerator(config).eval()
    ours.load_state_dict(convert_official_state_dict({"model_g": ref.state_dict()}), strict=True)
    return ours


def _mel(batch, frames, seed=1):
    return torch.randn(batch, 100, frames, generator=torch.Generator().manual_seed(seed)) * 2 - 6


def test_inference_matches_reference_with_fixed_noise():
    ref = _reference(TINY_UNIVNET)
    ours = _ours_from(ref, TINY_UNIVNET)
    mel = _mel(2, 13)
    noise = torch.randn(2, TINY_UNIVNET.noise_dim, 13 + PAD_FRAMES)
    with torch.no_grad():
        expected = ref.inference(mel, noise)
    got = ours.inference(mel, noise=noise)
    assert got.shape == expected.shape == (2, 1, 13 * 256)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_our_state_dict_loads_strictly_into_the_inference_mode_reference():
    ref = _reference(TINY_UNIVNET)
    ours = _ours_from(ref, TINY_UNIVNET)
    ref.eval(inference=True)  # removes weight norm: plain `weight` entries like ours
    ref.load_state_dict(ours.state_dict(), strict=True)
    mel, noise = _mel(1, 7), torch.randn(1, TINY_UNIVNET.noise_dim, 7 + PAD_FRAMES)
    with torch.no_grad():
        torch.testing.assert_close(ours.inference(mel, noise=noise), ref.inference(mel, noise), rtol=1e-4, atol=1e-5)


def test_noise_from_generator_follows_the_reference_draw():
    """With a generator seeded like the reference's global RNG, the audio is the reference's."""
    ref = _reference(TINY_UNIVNET)
    ours = _ours_from(ref, TINY_UNIVNET)
    mel = _mel(1, 9)
    torch.manual_seed(5)
    with torch.no_grad():
        expected = ref.inference(mel)
    got = ours.inference(mel, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert torch.equal(got, ours.inference(mel, generator=torch.Generator().manual_seed(5)))
    assert not torch.equal(got, ours.inference(mel, generator=torch.Generator().manual_seed(6)))


def test_batched_items_equal_single_items():
    ours = _ours_from(_reference(TINY_UNIVNET), TINY_UNIVNET)
    mel = _mel(2, 6)
    noise = torch.randn(2, TINY_UNIVNET.noise_dim, 6 + PAD_FRAMES)
    both = ours.inference(mel, noise=noise)
    for i in range(2):
        torch.testing.assert_close(both[i:i + 1], ours.inference(mel[i:i + 1], noise=noise[i:i + 1]))


def test_convert_rejects_unpaired_weight_norm():
    state = {"conv_pre.weight_v": torch.ones(2, 2, 7), "conv_pre.bias": torch.zeros(2)}
    with pytest.raises(ValueError, match="conv_pre.weight_g"):
        convert_official_state_dict({"model_g": state})


def test_location_variable_conv_checks_lengths():
    with pytest.raises(ValueError, match="does not match"):
        location_variable_conv(torch.zeros(1, 2, 10), torch.zeros(1, 2, 4, 3, 3), torch.zeros(1, 4, 3), hop=4)


@pytest.mark.slow
def test_official_size_keys_parameters_and_forward():
    ref = _reference(OFFICIAL_UNIVNET)
    checkpoint_state = ref.state_dict()
    assert len(checkpoint_state) == 132  # weight-normalised, as vocoder.pth["model_g"] stores it
    ours = _ours_from(ref, OFFICIAL_UNIVNET)
    assert len(ours.state_dict()) == 88
    assert sum(p.numel() for p in ours.parameters()) == 14_789_153
    mel, noise = _mel(1, 6), torch.randn(1, 64, 6 + PAD_FRAMES)
    with torch.no_grad():
        torch.testing.assert_close(ours.inference(mel, noise=noise), ref.inference(mel, noise), rtol=1e-4, atol=1e-5)
    ref.eval(inference=True)
    assert {k: v.shape for k, v in ref.state_dict().items()} == {k: v.shape for k, v in ours.state_dict().items()}


@pytest.mark.gpu
def test_gpu_inference_matches_cpu():
    ours = _ours_from(_reference(TINY_UNIVNET), TINY_UNIVNET)
    mel, noise = _mel(2, 11), torch.randn(2, TINY_UNIVNET.noise_dim, 11 + PAD_FRAMES)
    expected = ours.inference(mel, noise=noise)
    got = ours.cuda().inference(mel.cuda(), noise=noise.cuda()).cpu()
    # cuDNN convolutions use TF32 by default: errors ~1e-3 of the signal's scale
    torch.testing.assert_close(got, expected, rtol=3e-3, atol=3e-3 * expected.abs().max().item())
