"""The sweep page leads with the headline summaries, as the leaderboard does (no Ray needed)."""
from html.parser import HTMLParser

from evalkit.api import EvalConfig
from evalkit.report.sweep import write_sweep_report
from evalkit.sweep import SweepConfig, run_sweep


class Headers(HTMLParser):
    def __init__(self):
        super().__init__()
        self.columns, self.toggle, self._th = {}, False, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and "columns-toggle" in (attrs.get("class") or ""):
            self.toggle = True
        if tag == "th" and attrs.get("class", "").startswith("num"):
            self._th = attrs["class"]

    def handle_data(self, data):
        if self._th is not None:
            self.columns[data.strip().split(" ", 1)[-1]] = "extra" in self._th.split()
            self._th = None


def test_sweep_page_hides_all_but_the_headline_summaries(tmp_path):
    base = EvalConfig(suite="smoke", system="ground-truth", metrics=("wer", "rtf", "duration"), limit=2, quiet=True,
                      runs_dir=tmp_path / "runs")
    cells = [(cell, result.run_dir) for cell, result in run_sweep(SweepConfig(base=base, seeds=(0, 1)))]
    page = write_sweep_report(cells, None, tmp_path / "sweep.html")
    headers = Headers()
    headers.feed(page.read_text())
    assert headers.toggle
    assert headers.columns["wer"] is False  # the main metric: shown
    assert headers.columns["cer"] is True and headers.columns["duration_log_error"] is True  # behind the toggle
