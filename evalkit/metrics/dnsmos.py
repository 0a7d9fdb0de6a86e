"""`dnsmos`: Microsoft's DNSMOS P.835 (SIG, BAK, OVRL) and P.808 quality estimates.

The models and their scoring are the ``speechmos`` package's ``DNSMOS`` class (MIT),
which follows Microsoft's ``dnsmos_local.py``: the 16 kHz clip is repeated until it
lasts 9.01 s, cut into 9.01 s windows every second, each window scored by the P.835
network (raw samples; SIG, BAK and OVRL mapped to MOS by fixed polynomials) and by the
P.808 network (a 120-band log-mel), and the window scores averaged. Weights resolve
through evalkit.weights (``microsoft/dnsmos``; the ``speechmos`` wheel is the offline
provider), so run.json records their sha256.

Audio is mixed to mono and resampled to 16 kHz with librosa's default (soxr "HQ"), as
``librosa.load(path, sr=16000)`` in the reference script does. Scores are
deterministic (ONNX Runtime on the CPU) and do not depend on batching (one clip at a
time).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.metrics.quality import QualityOptions, QualityPredictor

SAMPLE_RATE = 16_000  # the models' rate
WEIGHTS = "microsoft/dnsmos"


@dataclass(frozen=True)
class DnsmosOptions(QualityOptions):
    model: str = WEIGHTS


class Dnsmos(QualityPredictor):
    name = "dnsmos"
    version = "1"
    description = "quality: DNSMOS P.835 SIG/BAK/OVRL and P.808 (Microsoft, ONNX), MOS 1-5"
    summaries = {"ovrl": "dnsmos_ovrl", "sig": "dnsmos_sig", "bak": "dnsmos_bak", "p808": "dnsmos_p808"}

    Options = DnsmosOptions

    def setup(self, device: str) -> None:
        from importlib.util import find_spec

        missing = [m for m in ("onnxruntime", "librosa", "speechmos", "requests") if find_spec(m) is None]
        if missing:
            from evalkit.types import EvalkitError

            raise EvalkitError(f"metric dnsmos needs {', '.join(missing)}: pip install 'evalkit[quality]'")
        super().setup(device)

    def model(self):
        if self._model is None:
            import onnxruntime  # noqa: F401 - a clear ImportError before speechmos's
            from speechmos.dnsmos import DNSMOS

            folder = self.weights.folder
            self._model = DNSMOS(str(folder / "sig_bak_ovr.onnx"), str(folder / "model_v8.onnx"))
        return self._model

    def predict(self, audio: np.ndarray, sample_rate: int) -> dict[str, float]:
        import librosa

        clip = np.asarray(audio, dtype=np.float32)
        if sample_rate != SAMPLE_RATE:
            clip = librosa.resample(clip, orig_sr=sample_rate, target_sr=SAMPLE_RATE)
        # speechmos refuses samples outside [-1, 1] (stored audio is 16-bit, but a
        # resampler can overshoot by a hair).
        out = self.model()(np.clip(clip, -1.0, 1.0), SAMPLE_RATE, False)
        return {"ovrl": out["ovrl_mos"], "sig": out["sig_mos"], "bak": out["bak_mos"], "p808": out["p808_mos"]}


def provide_speechmos(spec, target) -> str | None:
    """Offline provider: the ONNX files inside the installed ``speechmos`` package
    (located without importing it: its module imports librosa and onnxruntime)."""
    from evalkit.weights import from_installed_package

    return from_installed_package(spec, target, "speechmos", "dnsmos_models", "speechmos", "dnsmos_models")
