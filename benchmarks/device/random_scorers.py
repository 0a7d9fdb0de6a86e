"""Random-weight checkpoints of the scoring models at their official sizes, for a run with no hub access.

    python benchmarks/device/random_scorers.py DIR [--size large-v3|tiny.en] [--device cuda]

Writes DIR/whisper-<size>-random.pt (openai-whisper's checkpoint format: {"dims", "model_state_dict"},
float16) and DIR/ecapa-random.ckpt (SpeechBrain ECAPA-TDNN, spkrec-ecapa-voxceleb's architecture), seeded,
and prints the two metric options that point `evalkit run` at them:

    --metric-option wer.model=DIR/whisper-large-v3-random.pt --metric-option sim.model=DIR/ecapa-random.ckpt

The transcripts and similarities are noise; the point is the work: the GPU check times the harness with the
scorers at their real sizes (Whisper large-v3: 1.55 B parameters) where no real weights can be downloaded.
Random Whisper weights never emit end-of-text, so every clip decodes the full 224 tokens: more decoding than
real speech needs, an upper bound on the scoring time.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

# openai-whisper's dimensions (whisper/__init__.py _MODELS checkpoints' "dims").
DIMS = {
    "large-v3": dict(n_mels=128, n_audio_ctx=1500, n_audio_state=1280, n_audio_head=20, n_audio_layer=32,
                     n_vocab=51866, n_text_ctx=448, n_text_state=1280, n_text_head=20, n_text_layer=32),
    "tiny.en": dict(n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
                    n_vocab=51864, n_text_ctx=448, n_text_state=384, n_text_head=6, n_text_layer=4),
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--size", default="large-v3", choices=sorted(DIMS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
    from whisper.model import ModelDimensions, Whisper

    from evalkit.metrics.speaker import ECAPA_ARCH

    args.dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    with torch.device(args.device):  # initialising 1.55 B parameters is much faster on the GPU
        whisper_model = Whisper(ModelDimensions(**DIMS[args.size]))
    state = {k: v.half().cpu() for k, v in whisper_model.state_dict().items()}
    whisper_path = args.dir / f"whisper-{args.size}-random.pt"
    torch.save({"dims": DIMS[args.size], "model_state_dict": state}, whisper_path)
    del whisper_model, state
    ecapa_path = args.dir / "ecapa-random.ckpt"
    torch.save(ECAPA_TDNN(**ECAPA_ARCH).state_dict(), ecapa_path)
    print(f"--metric-option wer.model={whisper_path} --metric-option sim.model={ecapa_path}")


if __name__ == "__main__":
    main()
