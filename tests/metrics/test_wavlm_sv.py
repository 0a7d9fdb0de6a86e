"""UniSpeech WavLM + ECAPA-TDNN speaker verification (Seed-TTS-eval / F5-TTS SIM) at a tiny
random size: checkpoint layout, hidden states, and the metric with embedder=wavlm-ecapa.

(Checked once against s3prl 0.4.18's WavLM.py and F5-TTS 1.1.22's ecapa_tdnn.py at this
size: identical hidden states, embeddings equal to 5e-7; neither is a test dependency.)"""
import re

import numpy as np
import pytest
import torch
from metrics_helpers import SENTENCES, score_input

from evalkit.metrics.speaker import SpeakerSimilarity
from evalkit.metrics.wavlm_sv import CheckpointLayoutError, WavLMEcapa, WavLMEcapaConfig, build_wavlm, ecapa_head

TINY = WavLMEcapaConfig(conv_channels=16, embed_dim=32, layers=3, heads=4, ff_dim=64, pos_conv_kernel=8,
                        pos_conv_groups=4, buckets=16, channels=16, pool_channels=40, emb_dim=24)  # fmt: skip
P = "feature_extract.model."


L = r"encoder\.transformer\.layers\.(\d+)\."
# torchaudio WavLM name -> microsoft WavLM.py name (what UniSpeech checkpoints hold).
RENAMES = [
    (r"feature_extractor\.conv_layers\.(\d+)\.conv\.weight", r"feature_extractor.conv_layers.\1.0.weight"),
    (r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.(\w+)", r"feature_extractor.conv_layers.\1.2.1.\2"),
    (r"encoder\.feature_projection\.layer_norm\.(\w+)", r"layer_norm.\1"),
    (r"encoder\.feature_projection\.projection\.(\w+)", r"post_extract_proj.\1"),
    (r"encoder\.transformer\.pos_conv_embed\.conv\.bias", "encoder.pos_conv.0.bias"),
    (r"encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original0", "encoder.pos_conv.0.weight_g"),
    (r"encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original1", "encoder.pos_conv.0.weight_v"),
    (r"encoder\.transformer\.layer_norm\.(\w+)", r"encoder.layer_norm.\1"),
    (L + r"attention\.attention\.out_proj\.(\w+)", r"encoder.layers.\1.self_attn.out_proj.\2"),
    (L + r"attention\.gru_rel_pos_linear\.(\w+)", r"encoder.layers.\1.self_attn.grep_linear.\2"),
    (L + r"attention\.gru_rel_pos_const", r"encoder.layers.\1.self_attn.grep_a"),
    (L + r"attention\.rel_attn_embed\.weight", r"encoder.layers.\1.self_attn.relative_attention_bias.weight"),
    (L + r"layer_norm\.(\w+)", r"encoder.layers.\1.self_attn_layer_norm.\2"),
    (L + r"feed_forward\.intermediate_dense\.(\w+)", r"encoder.layers.\1.fc1.\2"),
    (L + r"feed_forward\.output_dense\.(\w+)", r"encoder.layers.\1.fc2.\2"),
    (L + r"final_layer_norm\.(\w+)", r"encoder.layers.\1.final_layer_norm.\2"),
]


def unispeech_layout(wavlm_state: dict) -> dict:
    out = {}
    for name, value in wavlm_state.items():
        fused = re.fullmatch(L + r"attention\.attention\.in_proj_(weight|bias)", name)
        if fused:  # one q/k/v projection in torchaudio, three in WavLM.py
            for part, chunk in zip("qkv", value.chunk(3)):
                out[f"{P}encoder.layers.{fused[1]}.self_attn.{part}_proj.{fused[2]}"] = chunk
            continue
        renamed = [re.sub(pattern, repl, name) for pattern, repl in RENAMES if re.fullmatch(pattern, name)]
        assert len(renamed) == 1, name
        out[P + renamed[0]] = value
    return out


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    wavlm, head = build_wavlm(TINY).eval(), ecapa_head(TINY).eval()
    for module in (wavlm, head):
        for p in module.parameters():
            torch.nn.init.normal_(p, std=0.2)
    path = tmp_path_factory.mktemp("wavlm") / "tiny_sv.pth"
    state = {**unispeech_layout(wavlm.state_dict()), **head.state_dict(), P + "mask_emb": torch.zeros(32)}
    torch.save({"model": state}, path)
    return path, wavlm


def test_config_is_read_from_the_checkpoint(tiny_checkpoint):
    model = WavLMEcapa(str(tiny_checkpoint[0]), "cpu")
    assert model.config == TINY


def test_hidden_states_are_layer_inputs_and_normalized_output(tiny_checkpoint):
    path, source = tiny_checkpoint
    model = WavLMEcapa(str(path), "cpu")
    wav = torch.randn(1, 8000) * 0.1
    with torch.no_grad():
        states = model.hidden_states(wav)
        normalized = torch.nn.functional.layer_norm(wav, wav.shape[-1:])
        outputs, _ = source.extract_features(normalized)  # each layer's output (public torchaudio API)
        final = source.encoder.transformer.layer_norm(outputs[-1])
    assert len(states) == TINY.layers + 1
    for got, want in zip(states[1:-1], outputs[:-1]):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(states[-1], final)


def test_embeddings_are_deterministic_and_per_clip(tiny_checkpoint):
    model = WavLMEcapa(str(tiny_checkpoint[0]), "cpu")
    rng = np.random.default_rng(0)
    clips = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (6000, 9000)]
    together = model.embed(clips)
    assert together.shape == (2, TINY.emb_dim) and np.isfinite(together).all()
    np.testing.assert_array_equal(together[1], model.embed(clips[1:])[0])  # no padding effects


def test_layout_errors_are_clear(tiny_checkpoint, tmp_path):
    state = torch.load(tiny_checkpoint[0], weights_only=True)["model"]
    head_only = {k: v for k, v in state.items() if not k.startswith(P)}
    torch.save({"model": head_only}, tmp_path / "head_only.pth")
    with pytest.raises(CheckpointLayoutError, match="no WavLM weights"):
        WavLMEcapa(str(tmp_path / "head_only.pth"), "cpu")
    torch.save(
        {"model": {**state, P + "encoder.layers.0.self_attn.new_thing.weight": torch.ones(1)}}, tmp_path / "x.pth"
    )
    with pytest.raises(CheckpointLayoutError, match="new_thing"):
        WavLMEcapa(str(tmp_path / "x.pth"), "cpu")


def test_metric_with_the_reference_speaker_model(tiny_checkpoint, speak):
    metric = SpeakerSimilarity(protocol="seedtts", embedder="wavlm-ecapa", model=str(tiny_checkpoint[0]))
    metric.setup("cpu")
    inputs = [
        score_input(speak(SENTENCES[1], v), prompt=speak(SENTENCES[0], "en-us+m3")) for v in ("en-us+m3", "en-us+f3")
    ]
    values = metric.score(inputs)
    assert all(-1 <= v["sim_o"] <= 1 for v in values)
    summary = metric.aggregate(values, [])["sim_o"]
    assert "note" not in summary.extra and summary.n == 2
    assert metric.provenance()["options"]["embedder"] == "wavlm-ecapa"
