"""What a run still has to do: the planned items, each with its seed.

Seeds derive from (run seed, item id) only, so which worker synthesizes an item, in
which batch and in which order, never changes its audio.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from evalkit.systems.base import item_seed
from evalkit.types import Item


@dataclass(frozen=True)
class WorkItem:
    """One item to generate and score. `attempts` counts workers that died holding it."""

    item: Item
    seed: int | None
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class Plan:
    planned: tuple[Item, ...]  # what the run covers (metrics.json n_items)
    todo: tuple[WorkItem, ...]  # planned items without a record yet, in suite order


def make_plan(items: Sequence[Item], limit: int | None, run_seed: int | None,
              records: dict[str, dict[str, Any]]) -> Plan:
    planned = tuple(items[:limit] if limit else items)
    todo = tuple(WorkItem(item, None if run_seed is None else item_seed(run_seed, item.id))
                 for item in planned if item.id not in records)
    return Plan(planned, todo)
