"""TorToiSe's five-model pipeline, reimplemented (parity-tested against tortoise-tts 3.0.0).

Import-light on purpose: the component modules import torch, this package does not.

Modules of the text and code-generation half:

    text            TextTokenizer (VoiceBpeTokenizer ids), english_cleaners, model_text_tokens
    autoregressive  AutoregressiveConfig, UnifiedVoice (conditioning_latent, mel_logits, latents),
                    fix_autoregressive_output, pad_codes, speech_length
    decoding        SamplingOptions, CodeSampler (static KV cache, CUDA graphs), SampledCodes
    clvp            CLVPConfig, CLVP, prepare_codes
    cvvp            CVVPConfig, CVVP
    checkpoint      load_weights (weights-only, strict), read_state_dict, COMPONENT_FILES
    gpt2, rotary_encoder, channel_attention   building blocks of the above

The assembled pipeline and its evalkit adapters (docs/tortoise.md):

    presets         TortoiseOptions (every option, validated), PRESETS, resolve (no torch)
    weights         registry entries tortoise/<component> for `evalkit weights fetch` (no torch)
    models          ModelConfigs.for_size, resolve_weights / ComponentWeights, StageDtypes, TortoiseModels
    pipeline        TortoisePipeline.synthesize(text, clips, options, seed) -> Speech (audio, stages, extras)
    system          TortoiseSystem: the `tortoise` system
    clvp_metric     ClvpAgreement: the `clvp` metric (pipeline score; EXPERIMENTAL DVAE path)

How tortoise's `TextToSpeech.tts` chains them, for one item (what a pipeline reproduces):

    ids     = text.model_text_tokens(text)                      # BPE ids + one trailing 0
    cond    = ar.conditioning_latent(ar_mels)                   # 80-bin 22.05 kHz mels of the voice clips
    sampled = CodeSampler(ar).sample(cond, ids, SamplingOptions(num_candidates=...), generator)
    codes   = clvp.prepare_codes(sampled.codes, max_mel_tokens) # pad with stop, fix_autoregressive_output
    scores  = clvp_model(ids_repeated, codes)                   # (optionally blended with CVVP)
    best    = codes[scores.topk(k).indices]
    latents = ar.latents(cond.expand(k, -1), ids_repeated_k, best)   # for the diffusion decoder
    latents = latents[:, : autoregressive.speech_length(best_row)]   # per row: cut at long silence
"""
