"""CLVP and CVVP against tortoise-tts 3.0.0 (identical random weights, CPU, float32)."""
import pytest
import torch

from evalkit.tortoise.autoregressive import fix_autoregressive_output
from evalkit.tortoise.clvp import CLVP, CLVPConfig, prepare_codes
from evalkit.tortoise.cvvp import CVVP, CVVPConfig

TOLERANCE = 1e-4  # relative

pytestmark = pytest.mark.usefixtures("single_thread")
STOP = 8193


def _pair(reference_module, ours_class, config, perturb):
    ref = perturb(reference_module, seed=2)
    ours = ours_class(config).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


def _candidates(batch=3, length=30, seed=0):
    """Sampler-like output: codes, then stop tokens from a per-row point (one row never stops)."""
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 8192, (batch, length), generator=generator)
    for row, end in enumerate([length // 3, length - 2, length][:batch]):
        codes[row, end:] = STOP
    return codes


@pytest.fixture(scope="module")
def clvp_pair(reference, perturb):
    return _pair(reference.clvp(CLVPConfig.tiny()), CLVP, CLVPConfig.tiny(), perturb)


@pytest.fixture(scope="module")
def cvvp_pair(reference, perturb):
    return _pair(reference.cvvp(CVVPConfig.tiny()), CVVP, CVVPConfig.tiny(), perturb)


def test_clvp_scores_match_reference(clvp_pair, rel_err):
    ref, ours = clvp_pair
    text = torch.randint(0, 256, (3, 17), generator=torch.Generator().manual_seed(1))
    codes = prepare_codes(_candidates(), max_mel_tokens=40)
    with torch.no_grad():
        expected = ref(text, codes, return_loss=False)
        scores = ours(text, codes)
    assert scores.shape == (3,)
    assert rel_err(scores, expected) < TOLERANCE


def test_prepare_codes_pads_then_fixes_like_api():
    codes = _candidates()
    prepared = prepare_codes(codes, max_mel_tokens=40)
    assert prepared.shape == (3, 40)
    for row, original in zip(prepared, codes):
        padded = torch.cat([original, torch.full((10,), STOP)])
        assert torch.equal(row, fix_autoregressive_output(padded, STOP))
    assert int(prepared.max()) < 8192  # every stop token replaced: all ids are valid CLVP codes


def test_clvp_rejects_unfixed_codes(clvp_pair):
    _, ours = clvp_pair
    with pytest.raises(ValueError, match="prepare_codes"):
        ours(torch.zeros(1, 5, dtype=torch.long), torch.full((1, 8), STOP))


def test_cvvp_scores_match_reference(cvvp_pair, rel_err):
    ref, ours = cvvp_pair
    generator = torch.Generator().manual_seed(3)
    mels = torch.randn(3, 80, 64, generator=generator)
    codes = prepare_codes(_candidates(), max_mel_tokens=40)
    with torch.no_grad():
        expected = ref(mels, codes, return_loss=False)
        scores = ours(mels, codes)
    assert rel_err(scores, expected) < TOLERANCE


@pytest.mark.parametrize("which", ["clvp", "cvvp"])
def test_state_dicts_are_interchangeable(which, reference, clvp_pair, cvvp_pair):
    config = {"clvp": CLVPConfig.tiny(), "cvvp": CVVPConfig.tiny()}[which]
    _, ours = {"clvp": clvp_pair, "cvvp": cvvp_pair}[which]
    fresh = getattr(reference, which)(config)
    fresh.load_state_dict(ours.state_dict(), strict=True)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in fresh.state_dict().items()}


@pytest.mark.slow
def test_official_clvp_matches_reference(reference, perturb, rel_err):
    ref, ours = _pair(reference.clvp(CLVPConfig.official()), CLVP, CLVPConfig.official(), perturb)
    assert len(ours.state_dict()) == 451
    assert sum(p.numel() for p in ours.parameters()) == 243_846_145
    text = torch.randint(0, 256, (2, 40), generator=torch.Generator().manual_seed(1))
    codes = prepare_codes(_candidates(batch=2, length=120), max_mel_tokens=150)
    with torch.no_grad():
        assert rel_err(ours(text, codes), ref(text, codes, return_loss=False)) < TOLERANCE


@pytest.mark.slow
def test_official_cvvp_matches_reference(reference, perturb, rel_err):
    ref, ours = _pair(reference.cvvp(CVVPConfig.official()), CVVP, CVVPConfig.official(), perturb)
    assert len(ours.state_dict()) == 210
    assert sum(p.numel() for p in ours.parameters()) == 37_780_225
    mels = torch.randn(2, 80, 200, generator=torch.Generator().manual_seed(3))
    codes = prepare_codes(_candidates(batch=2, length=120), max_mel_tokens=150)
    with torch.no_grad():
        assert rel_err(ours(mels, codes), ref(mels, codes, return_loss=False)) < TOLERANCE
