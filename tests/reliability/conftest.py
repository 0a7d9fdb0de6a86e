"""Hypothesis next to SpeechBrain in one test process.

Hypothesis (>= 6.131) looks for constants in every module in sys.modules, reading each
one's `__file__`. SpeechBrain puts lazy placeholders there (speechbrain.integrations.k2_fsa
and others) whose attribute access imports the real module and raises ImportError when
an optional dependency (k2) is missing. When an earlier test imported SpeechBrain, the
first @given test would fail on that. Modules whose `__file__` cannot be read are marked
as already seen by Hypothesis, which then skips them (they hold no test constants).
"""
from __future__ import annotations

import sys

import pytest


@pytest.fixture(autouse=True)
def _hypothesis_skips_lazy_modules():
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # another Hypothesis layout: nothing to work around
        yield
        return
    seen = getattr(providers, "_seen_modules", None)
    if isinstance(seen, set):
        for module in list(sys.modules.values()):
            try:
                getattr(module, "__file__", None)
            except Exception:  # noqa: BLE001 - any failure of a lazy placeholder
                seen.add(id(module))
    yield
