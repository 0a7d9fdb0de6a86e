"""HTML reports: leaderboards, run pages and A/B comparisons as one self-contained file.

- runs: a run directory loaded for display (records, summaries, per-item values)
- leaderboard: runs grouped by suite content, one row per run, the headline columns
  (main metric, SIM-o, quality predictors, RTF, failed items) first, a column per summary
- provenance: a run's run.json as titled key/value tables for its page
- items: per-item rows for the item tables (worst first), with transcript alignments
- audio: which clips are embedded (data URIs, capped) and which are linked
- plots: matplotlib figures as inline SVG (the runs-at-a-glance picture among them)
- compare: the A/B view of two runs (paired deltas, most regressed/improved items)
- render: Jinja2 templates (autoescaped) -> report.html, or a publishable folder

Only the command modules import this package, and only when a report is asked for.
"""
