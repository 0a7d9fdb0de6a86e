"""Run F5-TTS's ASR call on files with faster-whisper 0.10.1 itself (a test oracle).

Run with 0.10.1 first on the path (PYTHONPATH=<its --target folder>):
    python faster_whisper_010.py MODEL_FOLDER FEATURES_NPY AUDIO...
Prints {"version": ..., "transcripts": {path: text}} as JSON. The text is built as
F5-TTS's utils_eval.run_asr_wer builds `hypo` (" " + each segment's text). It also saves
0.10.1's log-mel of the first file's first channel (as float32) to FEATURES_NPY.
"""
import json
import sys

import numpy as np
import soundfile as sf


def main() -> None:
    import ctranslate2
    import faster_whisper
    from faster_whisper import WhisperModel
    from faster_whisper.feature_extractor import FeatureExtractor

    folder, features_path, *paths = sys.argv[1:]
    assert faster_whisper.__version__ == "0.10.1", faster_whisper.__version__
    model = WhisperModel(folder, device="cpu", compute_type="float32")
    transcripts = {}
    for path in paths:
        segments, _ = model.transcribe(path, beam_size=5, language="en")
        hypo = ""
        for segment in segments:
            hypo = hypo + " " + segment.text
        transcripts[path] = hypo
    audio, _ = sf.read(paths[0], dtype="float32", always_2d=True)
    np.save(features_path, FeatureExtractor()(np.ascontiguousarray(audio[:, 0])))
    print(json.dumps({"version": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__,
                      "transcripts": transcripts}))


if __name__ == "__main__":
    main()
