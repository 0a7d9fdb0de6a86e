"""How much a bfloat16 output head changes the distribution TorToiSe's AR model samples from.

With `dtype=auto` on CUDA the AR model runs in bfloat16. This measures, position by position over one
teacher-forced sequence (the logits a decode step would sample from), the next-code distribution of three
variants of the same official-size model against float32:

    bf16_head   the whole model cast to bfloat16, `final_norm` and `mel_head` included (evalkit before the fix)
    f32_head    the stack in bfloat16, `final_norm` + `mel_head` in float32 (`UnifiedVoice.cast`, evalkit now)
    head_only   float32 stack, only the head rounded to bfloat16: the head's own share of the difference

Reported per variant: mean and max KL(float32 || variant) of the tempered distribution (repetition penalty 2,
temperature 0.8, full support), mean and max total variation of the distribution tortoise actually draws from
(top-k 50 and top-p 0.8 on top: the probability that one coupled draw picks a different code), how often the top-1
code agrees, and the mean overlap of the top-50 sets. Random weights only (no official checkpoint offline): their
logits are nearly flat (std ~0.6), which hides rounding, so the same run is repeated with the head scaled so that
the logits spread like a trained LM's (`--logit-std`, default 4): a stress, stated as such in the results.

    python benchmarks/bf16_logits.py [--positions 300] [--out benchmarks/results/bf16-logits.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from evalkit.provenance import environment
from evalkit.tortoise.autoregressive import AutoregressiveConfig, UnifiedVoice
from evalkit.tortoise.decoding import FAKE_INPUT_ID, SamplingOptions, process_logits


def seen_codes(codes: torch.Tensor, vocab: int) -> torch.Tensor:
    """(positions, vocab): the ids the repetition penalty sees at each teacher-forced position."""
    seen = torch.zeros(len(codes), vocab, dtype=torch.bool)
    seen[:, FAKE_INPUT_ID] = True
    seen[:, vocab - 2] = True  # start_mel, fed last in tortoise's fake inputs
    for row in range(1, len(codes)):  # row r has seen codes 0..r-1
        seen[row] = seen[row - 1]
        seen[row, codes[row - 1]] = True
    return seen


def distributions(logits: torch.Tensor, seen: torch.Tensor) -> dict[str, torch.Tensor]:
    """`tempered`: log-softmax after the repetition penalty and temperature (full support, for KL);
    `sampled`: the probabilities tortoise draws from (top-k 50 and top-p 0.8 applied as well)."""
    untruncated = SamplingOptions(top_k=0, top_p=1.0)
    tempered = torch.log_softmax(process_logits(logits.float(), seen, untruncated), dim=-1)
    sampled = torch.softmax(process_logits(logits.float(), seen, SamplingOptions()), dim=-1)
    return {"tempered": tempered, "sampled": sampled}


def compare(reference: dict[str, torch.Tensor], variant: dict[str, torch.Tensor], k: int = 50) -> dict[str, float]:
    p_log, q_log = reference["tempered"], variant["tempered"]
    kl = (p_log.exp() * (p_log - q_log)).sum(-1)
    # Total variation of what is drawn: the probability that one coupled draw gives a different code.
    tv = 0.5 * (reference["sampled"] - variant["sampled"]).abs().sum(-1)
    top_ref, top_var = p_log.topk(k).indices, q_log.topk(k).indices
    overlap = torch.tensor([len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(top_ref, top_var)])
    return {"kl_mean": float(kl.mean()), "kl_max": float(kl.max()), "tv_sampled_mean": float(tv.mean()),
            "tv_sampled_max": float(tv.max()), "top1_agreement": float((top_ref[:, 0] == top_var[:, 0]).float().mean()),
            "top50_overlap_mean": float(overlap.mean())}


def measure(model: UnifiedVoice, positions: int, seed: int) -> dict[str, dict[str, float]]:
    gen = torch.Generator().manual_seed(seed)
    config = model.config
    cond = torch.randn(1, config.model_dim, generator=gen)
    text = torch.randint(0, config.number_text_tokens - 1, (1, 60), generator=gen)
    codes = torch.randint(0, config.start_mel_token, (1, positions), generator=gen)
    seen = seen_codes(codes[0], config.number_mel_codes)
    state = {k: v.clone() for k, v in model.state_dict().items()}

    def variant_logits(dtype, head_dtype):
        m = UnifiedVoice(config).eval()
        m.load_state_dict(state)
        m.to(dtype)
        m.final_norm.to(head_dtype)
        m.mel_head.to(head_dtype)
        with torch.inference_mode():
            return m.mel_logits(cond.to(dtype), text, codes)[0, :positions].float()

    ref = distributions(variant_logits(torch.float32, torch.float32), seen)
    out = {}
    for name, (dtype, head) in {"bf16_head": (torch.bfloat16, torch.bfloat16),
                                "f32_head": (torch.bfloat16, torch.float32),
                                "head_only": (torch.float32, torch.bfloat16)}.items():
        out[name] = compare(ref, distributions(variant_logits(dtype, head), seen))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--positions", type=int, default=300)
    parser.add_argument("--logit-std", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    model = UnifiedVoice(AutoregressiveConfig.official()).eval()
    results = {"as_initialised": measure(model, args.positions, args.seed)}
    with torch.inference_mode():  # spread the logits like a trained model's (a stress, not a checkpoint)
        hidden_std = 1.0  # final_norm's output has unit variance per dimension
        natural = model.mel_head.weight.std() * hidden_std * model.config.model_dim ** 0.5
        model.mel_head.weight.mul_(args.logit_std / float(natural))
    results[f"head_scaled_to_logit_std_{args.logit_std:g}"] = measure(model, args.positions, args.seed)
    env = environment()
    record = {"what": "next-code distributions of the official-size AR model (random weights), bfloat16 "
                      "variants vs float32, teacher-forced", "positions": args.positions,
              "git": env["git"], "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
              "seconds": round(time.perf_counter() - start, 1), "results": results}
    text = json.dumps(record, indent=2)
    print(text)
    if args.out:
        from pathlib import Path

        from evalkit.cache import atomic_write_bytes

        atomic_write_bytes(Path(args.out), (text + "\n").encode())


if __name__ == "__main__":
    main()
