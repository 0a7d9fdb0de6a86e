"""Paired comparisons of runs: snapshots, paired bootstrap, policies, gate decisions.

A gate asks one question per summary: over the items both runs scored, is the
candidate worse than the baseline by more than the policy tolerates, with 95%
confidence? Modules:

- snapshot: a run reduced to what a comparison needs (also the baseline file format)
- paired: the paired item bootstrap of candidate - baseline for ratio-of-sums summaries
- policy: per-suite tolerances, required metrics, allowed failure rate (YAML)
- standing: the rule a run must meet to be a baseline or a candidate
- decision: comparability checks, per-summary verdicts, the exit code
- outputs: markdown, gate.json, JUnit XML, GitHub step summary
- calibrate: tolerances from repeated runs of one checkpoint (the noise floor)

Nothing here is imported by `evalkit --help`; numpy is imported where it is used.
"""
