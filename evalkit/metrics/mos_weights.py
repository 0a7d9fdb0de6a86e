"""Weights of the quality predictors (listed in evalkit.weights.SPEC_MODULES; torch-free).

- ``microsoft/dnsmos``: DNSMOS P.835 (``sig_bak_ovr.onnx``) and P.808 (``model_v8.onnx``)
  from Microsoft's DNS-Challenge repository. The ``speechmos`` package (MIT) ships the
  same bytes: their sha256 below are the package's files and equal the hashes other
  projects record for DNS-Challenge's; the package is the offline provider.
- ``utmos22/strong``: UTMOS22's strong learner (the VoiceMOS 2022 checkpoint,
  epoch 3 / step 7459) converted to a plain state dict by utmos-pytorch (MIT), on the
  Hugging Face hub. The revision and sha256 are pinned as recorded publicly for that
  file; no machine here can download it to confirm them (a mismatch fails the fetch).
  F5-TTS loads the same checkpoint through SpeechMOS (tarepan's conversion).
"""
from __future__ import annotations

from evalkit.weights import HubSource, UrlSource, WeightFile, WeightSpec, register

DNSMOS = register(
    WeightSpec(
        name="microsoft/dnsmos",
        description="DNSMOS P.835 (SIG/BAK/OVRL) and P.808 ONNX models (16 kHz)",
        files=(
            WeightFile("sig_bak_ovr.onnx", "269fbebdb513aa23cddfbb593542ecc540284a91849ac50516870e1ac78f6edd"),
            WeightFile("model_v8.onnx", "9246480c58567bc6affd4200938e77eef49468c8bc7ed3776d109c07456f6e91"),
        ),
        source=UrlSource("https://github.com/microsoft/DNS-Challenge/raw/master/DNSMOS/DNSMOS"),
        providers=("evalkit.metrics.dnsmos:provide_speechmos",),
        license="CC-BY-4.0 (models) / MIT (speechmos)",
    )
)

UTMOS22_STRONG = register(
    WeightSpec(
        name="utmos22/strong",
        description="UTMOS22 strong learner (wav2vec 2.0 base + listener-conditioned BLSTM), 16 kHz",
        files=(WeightFile("utmos_state_dict.pt", "21b98001a7d5164d562a40d76aff80ae996deeabe4473c3a6786d1c591c2cc47"),),
        source=HubSource("Blinorot/UTMOS-PyTorch", "4f2447e519df3b88567b45583d3500006729502b"),
        entry="utmos_state_dict.pt",
        license="MIT",
    )
)
