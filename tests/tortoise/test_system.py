"""The `tortoise` system through evalkit's runner (tiny random-weight models on CPU: the audio is noise)."""
import json

import numpy as np
import pytest
import torch

from evalkit.api import EvalConfig, evaluate
from evalkit.tortoise import presets
from evalkit.tortoise.audio import diffusion_output_frames
from evalkit.tortoise.models import ModelConfigs, build_module, random_weights
from evalkit.tortoise.pipeline import STAGES
from evalkit.tortoise.system import RANDOM_WEIGHTS_WARNING, TortoiseSystem
from evalkit.types import EvalkitError, Item, ItemError, ItemFailure, Synthesis
from evalkit.weights import WeightsError

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = {"size": "tiny", "random_weights": True, "preset": "ultra_fast", "max_mel_tokens": 12,
        "num_autoregressive_samples": 3, "diffusion_iterations": 3}
ITEMS = 4
EXTRAS = {"preset", "random_weights", "dtype", "seed", "num_candidates", "max_mel_tokens", "clvp_scores",
          "chosen_candidate", "chosen_clvp_score", "tokens_per_candidate", "chosen_tokens", "chosen_stop_reason",
          "stop_reasons", "silence_truncated", "silence_truncation_code", "silence_dropped_codes", "latent_frames",
          "peak_gpu_memory_bytes", "nondeterministic", "warning"}


def run(tmp_path, monkeypatch, name, *, seed=0, metrics=("rtf",), **options):
    """One run into its own directory with its own (empty) caches: nothing is served from an earlier run."""
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / name / "cache"))
    result = evaluate(EvalConfig(suite="smoke", system="tortoise", system_options={**TINY, **options},
                                 metrics=metrics, limit=ITEMS, seed=seed, out=tmp_path / name / "run", quiet=True))
    samples = [json.loads(line) for line in (result.run_dir / "samples.jsonl").read_text().splitlines()]
    run_json = json.loads((result.run_dir / "run.json").read_text())
    return result, samples, run_json


def audio_hashes(samples):
    return {s["item_id"]: s["audio"]["sha256"] for s in samples}


@pytest.fixture(scope="module")
def system():
    tortoise = TortoiseSystem(**TINY)
    tortoise.setup("cpu")
    return tortoise


def test_smoke_suite_end_to_end(tmp_path, monkeypatch):
    result, samples, run_json = run(tmp_path, monkeypatch, "base", metrics=("rtf", "duration", "clvp"))
    assert result.n_failed == 0 and len(samples) == ITEMS
    metrics = result.metrics["metrics"]
    assert {"rtf", "duration_ratio", "clvp"} <= set(metrics)
    assert metrics["clvp"]["n"] == ITEMS and metrics["clvp"]["n_random_weights"] == ITEMS
    assert set(metrics["rtf"]["stages"]) == set(STAGES)
    for sample in samples:
        extras = sample["system_extras"]
        assert EXTRAS <= set(extras) and extras["warning"] == RANDOM_WEIGHTS_WARNING
        assert sample["audio"]["sample_rate"] == 24000
        # 256 samples per 24 kHz mel frame; the decoder renders each AR code as 4 22.05 kHz frames.
        expected_seconds = diffusion_output_frames(extras["latent_frames"]) * 256 / 24000
        assert sample["audio"]["seconds"] == pytest.approx(expected_seconds)
        timing = sample["timing"]
        assert set(timing["stages"]) == set(STAGES) and all(v >= 0 for v in timing["stages"].values())
        assert timing["seconds"] >= sum(timing["stages"].values()) * 0.99
        assert extras["num_candidates"] == 3 and len(extras["clvp_scores"]) == 3
        assert sample["scores"]["clvp"]["clvp"] == extras["chosen_clvp_score"]
        assert extras["nondeterministic"] is False and extras["peak_gpu_memory_bytes"] is None
    system = run_json["system"]
    assert system["options"] == presets.resolve(TINY).to_json() and system["warning"] == RANDOM_WEIGHTS_WARNING
    assert set(system["checkpoints"]) == {"autoregressive", "clvp", "diffusion", "vocoder"}  # no CVVP at 0
    assert all(c["random"] and c["path"] is None and len(c["sha256"]) == 64 for c in system["checkpoints"].values())


def test_default_metrics_add_the_systems_own(tmp_path, monkeypatch):
    """Without --metrics: the suite's metrics (here just rtf), then TorToiSe's extra_metrics (clvp, stops)."""
    import shutil

    folder = tmp_path / "suite"
    folder.mkdir()
    shutil.copy(_prompt(), folder / "voice.flac")
    (folder / "mini.yaml").write_text(
        "name: mini\nversion: '1'\nmetrics: [rtf]\nprompt_audio: voice.flac\nitems:\n"
        + "".join(f"  - {{id: i{n}, text: Number {n} is on the list.}}\n" for n in range(ITEMS)))
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    result = evaluate(EvalConfig(suite=str(folder / "mini.yaml"), system="tortoise", system_options=TINY,
                                 out=tmp_path / "run", quiet=True))
    samples = [json.loads(line) for line in (result.run_dir / "samples.jsonl").read_text().splitlines()]
    run_json = json.loads((result.run_dir / "run.json").read_text())
    assert [m["name"] for m in run_json["metrics"]] == ["rtf", "clvp", "stops"]
    metrics = result.metrics["metrics"]
    reasons = [s["system_extras"]["chosen_stop_reason"] for s in samples]
    counts = [s["system_extras"]["stop_reasons"] for s in samples]
    assert metrics["max_length_rate"]["value"] == reasons.count("max_length") / ITEMS
    assert metrics["candidate_max_length_rate"]["value"] == (
        sum(c["max_length"] for c in counts) / sum(c["max_length"] + c["stop_token"] for c in counts))
    dropped = [s["system_extras"]["silence_dropped_codes"] for s in samples]
    assert metrics["speech_dropped_rate"]["value"] == sum(d > 0 for d in dropped) / ITEMS
    assert metrics["clvp"]["n"] == ITEMS


def test_voice_folder_conditions_on_every_clip(tmp_path, monkeypatch):
    """--voice FOLDER: each item is conditioned on all the folder's clips; the generation cache tells a
    one-clip voice from a two-clip voice sharing its first clip (one cache for both runs)."""
    import shutil

    voice = tmp_path / "voice"
    voice.mkdir()
    shutil.copy(_prompt(), voice / "1.flac")
    shutil.copy(_prompt().with_name("prompt-f3.flac"), voice / "2.flac")
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    samples = {}
    for name, path in (("one", voice / "1.flac"), ("two", voice)):
        result = evaluate(EvalConfig(suite="smoke", system="tortoise", system_options=TINY, metrics=("rtf",),
                                     limit=2, seed=0, voice=str(path), out=tmp_path / name, quiet=True))
        assert result.n_failed == 0
        samples[name] = [json.loads(line) for line in (result.run_dir / "samples.jsonl").read_text().splitlines()]
    assert [s["system_extras"]["voice_clips"] for s in samples["two"]] == [2, 2]
    assert [s["system_extras"]["voice_clips"] for s in samples["one"]] == [1, 1]
    assert audio_hashes(samples["one"]).keys() == audio_hashes(samples["two"]).keys()
    assert not set(audio_hashes(samples["one"]).values()) & set(audio_hashes(samples["two"]).values())


def test_audio_depends_only_on_the_seed(tmp_path, monkeypatch):
    _, first, _ = run(tmp_path, monkeypatch, "first")
    _, again, _ = run(tmp_path, monkeypatch, "again")
    _, other_seed, _ = run(tmp_path, monkeypatch, "other", seed=1)
    monkeypatch.setattr(TortoiseSystem, "batch_size", ITEMS)  # all items in one synthesize() call
    _, batched, _ = run(tmp_path, monkeypatch, "batched")
    assert audio_hashes(first) == audio_hashes(again) == audio_hashes(batched)
    assert batched[0]["timing"]["batch_size"] == ITEMS and first[0]["timing"]["batch_size"] == 1
    assert not set(audio_hashes(first).values()) & set(audio_hashes(other_seed).values())


def test_swapping_one_checkpoint(tmp_path, monkeypatch):
    configs = ModelConfigs.for_size("tiny")
    path = tmp_path / "diffusion.pth"
    torch.save(build_module("diffusion", configs, random_weights("diffusion", configs, init_seed=1)).state_dict(), path)
    _, base, base_json = run(tmp_path, monkeypatch, "base")
    _, swapped, swapped_json = run(tmp_path, monkeypatch, "swapped", checkpoints={"diffusion": str(path)})
    before, after = base_json["system"]["checkpoints"], swapped_json["system"]["checkpoints"]
    from evalkit.weights import file_sha256

    assert after["diffusion"] == {"path": str(path.resolve()), "sha256": file_sha256(path),
                                  "source": f"local:{path.resolve()}"}
    assert after["diffusion"]["sha256"] != before["diffusion"]["sha256"]
    assert {c: after[c] for c in after if c != "diffusion"} == {c: before[c] for c in before if c != "diffusion"}
    assert swapped_json["identity"] != base_json["identity"]
    assert swapped_json["system"]["options"]["checkpoints"] == {"diffusion": "override"}
    # Identity and cache keys follow content, not paths: the same file elsewhere is the same configuration.
    copy = tmp_path / "elsewhere" / "decoder.pth"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    moved = TortoiseSystem(**TINY, checkpoints={"diffusion": str(copy)})
    assert moved.config() == {k: v for k, v in swapped_json["system"].items() if k != "checkpoints"}
    assert moved.checkpoints()["diffusion"]["sha256"] == after["diffusion"]["sha256"]
    assert not set(audio_hashes(base).values()) & set(audio_hashes(swapped).values())
    # Only the decoder changed: the codes, their ranking and the latents are the same.
    for b, s in zip(base, swapped):
        assert b["system_extras"]["clvp_scores"] == s["system_extras"]["clvp_scores"]


def test_official_format_vocoder_file_gives_the_same_audio(system, tmp_path):
    """vocoder.pth nests the generator under "model_g" with weight-normalised convolutions (weight_g, weight_v)."""
    configs = ModelConfigs.for_size("tiny")
    folded = build_module("vocoder", configs, random_weights("vocoder", configs, init_seed=0)).state_dict()
    normalised = {}
    for key, value in folded.items():
        if key.endswith(".weight") and value.dim() == 3:  # a convolution: split into direction and norm
            name = key[: -len(".weight")]
            normalised[f"{name}.weight_v"] = value * 3.0
            normalised[f"{name}.weight_g"] = value.flatten(1).norm(dim=1).view(-1, 1, 1)
        else:
            normalised[key] = value
    path = tmp_path / "vocoder.pth"
    torch.save({"model_g": normalised, "optim_g": {}, "step": 3}, path)
    swapped = TortoiseSystem(**TINY, checkpoints={"vocoder": str(path)})
    assert swapped.checkpoints()["vocoder"]["sha256"] != system.checkpoints()["vocoder"]["sha256"]
    swapped.setup("cpu")
    item = Item("x", "Hello.", prompt_audio=_prompt())
    [ours], [theirs] = system.synthesize([item], [5]), swapped.synthesize([item], [5])
    np.testing.assert_allclose(theirs.audio, ours.audio, rtol=0, atol=1e-5)


def test_component_files_agree_with_the_checkpoint_module():
    from evalkit.tortoise.checkpoint import COMPONENT_FILES
    from evalkit.tortoise.weights import FILES

    assert COMPONENT_FILES == {c: f for c, f in FILES.items() if c in COMPONENT_FILES}
    assert set(FILES) == {*presets.COMPONENTS, "dvae"}


def test_missing_weights_fail_at_once_naming_the_fetch_command():
    from evalkit import weights

    with pytest.raises(WeightsError) as error:
        TortoiseSystem(size="tiny").checkpoints()
    message = str(error.value)
    expected = weights.folder_of(weights.get_spec("tortoise/autoregressive")) / "autoregressive.pth"
    assert "'autoregressive'" in message and str(expected) in message
    assert "evalkit weights fetch tortoise/autoregressive" in message
    with pytest.raises(WeightsError, match="evalkit weights fetch tortoise/autoregressive"):
        evaluate(EvalConfig(suite="smoke", system="tortoise", system_options={"size": "tiny"}, metrics=("rtf",)))


def test_checkpoint_override_errors_name_the_component(tmp_path):
    with pytest.raises(EvalkitError, match=r"'vocoder' not found: .*absent\.pth"):
        TortoiseSystem(**TINY, checkpoints={"vocoder": str(tmp_path / "absent.pth")}).checkpoints()
    wrong = tmp_path / "clvp_as_diffusion.pth"
    configs = ModelConfigs.for_size("tiny")
    torch.save(build_module("clvp", configs, random_weights("clvp", configs, 0)).state_dict(), wrong)
    with pytest.raises(EvalkitError, match=r"clvp_as_diffusion\.pth does not match DiffusionTts: missing keys"):
        TortoiseSystem(**TINY, checkpoints={"diffusion": str(wrong)}).setup("cpu")
    with pytest.raises(EvalkitError, match="checkpoints"):
        TortoiseSystem(**TINY, checkpoints={"decoder": "x.pth"})


def test_failing_items_fail_alone(system, tmp_path):
    smoke = Item("ok", "A short sentence.", prompt_audio=_prompt())
    not_audio = tmp_path / "prompt.wav"
    not_audio.write_text("not audio")
    items = [Item("no-voice", "Hello there."), smoke, Item("bad-voice", "Hi.", prompt_audio=not_audio),
             Item("too-long", "word " * 500, prompt_audio=_prompt())]
    results = system.synthesize(items, [1, 2, 3, 4])
    assert isinstance(results[1], Synthesis)
    missing, bad, long = results[0], results[2], results[3]
    assert isinstance(missing, ItemError) and missing.type == "MissingPrompt" and "'no-voice'" in missing.message
    assert isinstance(bad, ItemError) and bad.stage == "load" and "'bad-voice'" in bad.message
    assert isinstance(long, ItemError) and "'too-long'" in long.message and "at most 399" in long.message


def test_out_of_gpu_memory_names_the_option_to_set(system, monkeypatch):
    def exhausted(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(system._pipeline.sampler, "sample", exhausted)
    [error] = system.synthesize([Item("big", "Hello.", prompt_audio=_prompt())], [1])
    assert isinstance(error, ItemError) and "'big'" in error.message and "max_batch" in error.message


def test_a_failed_warm_up_stops_the_run_before_any_item(system, monkeypatch):
    """The warm-up runs on CUDA only; its failure (say, out of memory for 256 candidates) would repeat for
    every item, so it ends the run with the pipeline's advice instead."""
    def out_of_memory(options):
        raise ItemFailure("out of GPU memory sampling 256 candidates in batches of 256: set a smaller max_batch")

    monkeypatch.setattr(system._pipeline, "device", torch.device("cuda"))
    monkeypatch.setattr(system._pipeline, "warmup", out_of_memory)
    with pytest.raises(EvalkitError, match="warm-up item failed, so no item was generated: out of GPU.*max_batch"):
        system.warmup()


def test_unseeded_items_are_flagged_nondeterministic(system):
    item = Item("x", "Hello.", prompt_audio=_prompt())
    first, second = (system.synthesize([item], [None])[0] for _ in range(2))
    assert first.extras["nondeterministic"] and second.extras["nondeterministic"]
    assert first.extras["seed"] != second.extras["seed"]
    assert not np.array_equal(first.audio, second.audio)
    seeded = system.synthesize([item], [first.extras["seed"]])[0]  # the drawn seed reproduces the item
    assert np.array_equal(seeded.audio, first.audio) and seeded.extras["nondeterministic"] is False


def test_cvvp_is_loaded_and_reported_only_when_used(tmp_path):
    tortoise = TortoiseSystem(**TINY, cvvp_amount=0.5)
    assert "cvvp" in tortoise.checkpoints()
    tortoise.setup("cpu")
    result = tortoise.synthesize([Item("x", "Hello.", prompt_audio=_prompt())], [3])[0]
    assert len(result.extras["cvvp_scores"]) == 3 and "chosen_cvvp_score" in result.extras
    assert "cvvp" not in TortoiseSystem(**TINY).checkpoints()


@pytest.mark.parametrize("preset, candidates, steps, cond_free", [
    ("ultra_fast", 16, 30, False), ("fast", 96, 80, True), ("standard", 256, 200, True),
    ("high_quality", 256, 400, True),
])
def test_presets_are_tortoises(preset, candidates, steps, cond_free):
    o = TortoiseSystem(preset=preset).resolved
    assert (o.num_autoregressive_samples, o.diffusion_iterations, o.cond_free) == (candidates, steps, cond_free)
    shared = (o.temperature, o.top_p, o.repetition_penalty, o.cond_free_k, o.diffusion_temperature)
    assert shared == (0.8, 0.8, 2.0, 2.0, 1.0)
    assert (o.max_mel_tokens, o.cvvp_amount, o.top_k) == (500, 0.0, 50)


def test_options_resolve_and_validate():
    assert TortoiseSystem().resolved.preset == "fast"
    overridden = TortoiseSystem(preset="ultra_fast", cond_free=True, num_autoregressive_samples=8)
    assert overridden.resolved.cond_free and overridden.resolved.num_autoregressive_samples == 8
    assert overridden.config()["options"]["diffusion_iterations"] == 30
    assert "warning" not in overridden.config()
    known = r"\(known: ultra_fast, fast, standard, high_quality\)"
    with pytest.raises(EvalkitError, match=r"unknown tortoise preset 'turbo' " + known):
        TortoiseSystem(preset="turbo")
    with pytest.raises(EvalkitError, match=r"top_p=1.5 \(expected a number in \(0, 1\]\).*dtype='fp8'"):
        TortoiseSystem(top_p=1.5, dtype="fp8")
    with pytest.raises(EvalkitError, match="no option"):
        TortoiseSystem(k=2)
    with pytest.raises(EvalkitError, match="max_mel_tokens=900 exceeds"):
        TortoiseSystem(max_mel_tokens=900)
    with pytest.raises(EvalkitError, match="num_autoregressive_samples=True"):
        TortoiseSystem(num_autoregressive_samples=True)


def test_command_line_options_reach_the_system(tmp_path, monkeypatch, capsys):
    from evalkit.cli import main

    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    args = ["run", "--suite", "smoke", "--system", "tortoise", "--preset", "ultra_fast", "--limit", "1",
            "--metrics", "rtf", "--out", str(tmp_path / "run"), "--json", "--option", "size=tiny",
            "--option", "random_weights=true", "--option", "max_mel_tokens=8", "--option", "diffusion_iterations=2",
            "--option", "num_autoregressive_samples=2", "--option", "top_p=0.5"]
    assert main(args) == 0
    options = json.loads((tmp_path / "run" / "run.json").read_text())["system"]["options"]
    chosen = (options["preset"], options["top_p"], options["max_mel_tokens"], options["cond_free"])
    assert chosen == ("ultra_fast", 0.5, 8, False)
    assert main([*args[:6], "turbo", *args[7:]]) == 2
    assert "unknown tortoise preset 'turbo'" in capsys.readouterr().err


@pytest.mark.parametrize("cuda_graph", [True, False])
def test_cuda_graph_option_reaches_both_stages(cuda_graph, monkeypatch):
    """`--option cuda_graph=false` once left the diffusion sampler on graphs (its own default): the one option
    now decides for the AR sampler and the diffusion forward alike."""
    import evalkit.tortoise.pipeline as pipeline_module

    seen = []
    real = pipeline_module.sample_mels

    def spy(*args, **kwargs):
        seen.append(args[4] if len(args) > 4 else kwargs["options"])
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "sample_mels", spy)
    tortoise = TortoiseSystem(**TINY, cuda_graph=cuda_graph)
    tortoise.setup("cpu")
    tortoise.synthesize([Item("x", "Hello.", prompt_audio=_prompt())], [1])
    assert [options.cuda_graph for options in seen] == [cuda_graph]
    assert tortoise._pipeline.cuda_graph is cuda_graph


@pytest.mark.gpu
def test_cuda_graph_false_captures_no_graph_on_cuda(monkeypatch):
    import evalkit.tortoise.sampler as sampler_module

    def no_capture(*args, **kwargs):
        raise AssertionError("a CUDA graph was captured although cuda_graph=false")

    monkeypatch.setattr(sampler_module, "_capture", no_capture)
    monkeypatch.setattr(torch.cuda, "graph", no_capture)
    tortoise = TortoiseSystem(**TINY, cuda_graph=False)
    tortoise.setup("cuda")
    [result] = tortoise.synthesize([Item("x", "Hello.", prompt_audio=_prompt())], [1])
    assert isinstance(result, Synthesis) and not tortoise._pipeline.sampler._graphs


def _prompt():
    from evalkit.provenance import REPO_ROOT

    return REPO_ROOT / "suites" / "smoke" / "audio" / "prompt-m3.flac"


@pytest.mark.gpu
def test_cuda_run_through_the_runner(tmp_path, monkeypatch):
    """CUDA, tiny random weights: bf16 AR + diffusion; the warm-up sizes the KV cache so that later items keep it
    and its graphs (a shorter prompt may add a graph for a smaller attention window, nothing more)."""
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    options = {**TINY, "max_mel_tokens": 40, "num_autoregressive_samples": 8}
    result = evaluate(EvalConfig(suite="smoke", system="tortoise", system_options=options, metrics=("rtf", "clvp"),
                                 limit=2, device="cuda", out=tmp_path / "run", quiet=True))
    assert result.n_failed == 0
    samples = [json.loads(line) for line in (result.run_dir / "samples.jsonl").read_text().splitlines()]
    for sample in samples:
        extras = sample["system_extras"]
        assert extras["dtype"]["autoregressive"] == "bfloat16" and extras["dtype"]["clvp"] == "float32"
        assert extras["peak_gpu_memory_bytes"] > 0 and set(sample["timing"]["stages"]) == set(STAGES)
    tortoise = TortoiseSystem(**options)
    tortoise.setup("cuda")
    tortoise.warmup()
    sampler = tortoise._pipeline.sampler
    cache, graphs = sampler._cache, dict(sampler._graphs)
    assert graphs, "warm-up captured no CUDA graph"
    tortoise.synthesize([Item("x", "A sentence of ordinary length for an evaluation.", prompt_audio=_prompt())], [1])
    assert sampler._cache is cache and all(sampler._graphs.get(key) is graph for key, graph in graphs.items())


@pytest.mark.slow
def test_official_size_pipeline_through_the_runner(tmp_path, monkeypatch):
    """The configuration a GPU run uses (official model sizes, random weights), end to end on the CPU, kept
    short: 2 candidates of 20 codes, 2 diffusion steps, one item (~15 s on two cores)."""
    official = {"random_weights": True, "num_autoregressive_samples": 2, "max_mel_tokens": 20,
                "diffusion_iterations": 2}
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    result = evaluate(EvalConfig(suite="smoke", system="tortoise", system_options=official, metrics=("rtf", "stops"),
                                 limit=1, out=tmp_path / "run", quiet=True))
    assert result.n_failed == 0
    [sample] = [json.loads(line) for line in (result.run_dir / "samples.jsonl").read_text().splitlines()]
    extras = sample["system_extras"]
    assert extras["tokens_per_candidate"] == [20, 20] and extras["chosen_stop_reason"] == "max_length"
    assert sample["audio"]["sample_rate"] == 24000
    assert sample["audio"]["seconds"] == pytest.approx(diffusion_output_frames(extras["latent_frames"]) * 256 / 24000)
    run_json = json.loads((result.run_dir / "run.json").read_text())
    assert run_json["system"]["options"]["size"] == "official"
    assert result.metrics["metrics"]["max_length_rate"]["value"] == 1.0
