"""What changed between two versions of a declarative journey: a list of changes, each a path.

    >>> diff({"key": "j", "steps": [{"id": "a", "type": "exit"}]},
    ...      {"key": "j", "steps": [{"id": "a", "type": "exit", "reason": "done"}]})
    [{'path': 'steps.a.reason', 'change': 'added', 'to': 'done'}]

Steps are compared by ``id``, not by position: ``steps.nudge.template`` names the field
``template`` of the step ``nudge``. Other values are compared field by field (``entry.cooldown``,
``trigger.where``); lists of the same length element by element (``exit_on[0].event``,
``steps.wait.events[1].next``), lists whose length changed as one value. A step whose ``type``
changed is one change of the whole step. When the steps both versions share run in another
order (which changes where the implicit ``next`` goes), one ``reordered`` change on ``steps``
gives both orders.

Each change has ``path`` and ``change`` (``added``, ``removed``, ``changed`` or
``reordered``), with ``from`` (what it was; not for ``added``) and ``to`` (what it becomes; not
for ``removed``). The order is stable, whatever order the keys were stored in: the document's
fields in their documented order, then any other in alphabetical order; steps in the order of
the new version, then those it removed in their old order; a step's own fields alphabetically.

Pure: no I/O, works on the JSON documents as stored (``JourneyDocument.as_json()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Change = dict[str, Any]

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"
REORDERED = "reordered"

# The top-level fields of a journey document in the order docs/journeys.md presents them.
FIELD_ORDER = (
    "key",
    "name",
    "description",
    "trigger",
    "entry",
    "exit_on",
    "goal",
    "category",
    "steps",
)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The changes that turn document ``old`` into document ``new``; empty when they are equal."""
    changes: list[Change] = []
    for field in _ordered(old.keys() | new.keys(), FIELD_ORDER):
        if field == "steps" and _is_step_list(old.get(field)) and _is_step_list(new.get(field)):
            changes.extend(_steps(old[field], new[field]))
        else:
            changes.extend(_compare(field, old, new, field))
    return changes


def _ordered(keys: Iterable[str], first: tuple[str, ...] = ()) -> list[str]:
    keys = set(keys)
    return [k for k in first if k in keys] + sorted(k for k in keys if k not in first)


def _is_step_list(value: Any) -> bool:
    """A list of steps with distinct string ids, the only kind compared by id."""
    if not isinstance(value, list) or not all(isinstance(s, Mapping) for s in value):
        return False
    ids = [s.get("id") for s in value]
    return all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids)


def _steps(old: list[Mapping[str, Any]], new: list[Mapping[str, Any]]) -> list[Change]:
    before = {step["id"]: step for step in old}
    after = {step["id"]: step for step in new}
    changes: list[Change] = []
    for step_id, step in after.items():
        path = f"steps.{step_id}"
        if step_id not in before:
            changes.append(_change(path, ADDED, to=step))
        elif before[step_id].get("type") != step.get("type"):
            changes.append(_change(path, CHANGED, before[step_id], step))
        else:
            changes.extend(_values(path, before[step_id], step))
    changes.extend(
        _change(f"steps.{step_id}", REMOVED, before=step)
        for step_id, step in before.items()
        if step_id not in after
    )
    kept_before = [step_id for step_id in before if step_id in after]
    kept_after = [step_id for step_id in after if step_id in before]
    if kept_before != kept_after:
        changes.append(_change("steps", REORDERED, kept_before, kept_after))
    return changes


def _compare(path: str, old: Mapping[str, Any], new: Mapping[str, Any], key: str) -> list[Change]:
    if key not in new:
        return [_change(path, REMOVED, before=old[key])]
    if key not in old:
        return [_change(path, ADDED, to=new[key])]
    return _values(path, old[key], new[key])


def _values(path: str, old: Any, new: Any) -> list[Change]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes: list[Change] = []
        for key in _ordered(old.keys() | new.keys()):
            changes.extend(_compare(f"{path}.{key}", old, new, key))
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            c
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for c in _values(f"{path}[{i}]", a, b)
        ]
    if _same(old, new):
        return []
    return [_change(path, CHANGED, old, new)]


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON: ``1`` and ``1.0`` are the same number, ``True`` and ``1`` are not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


_MISSING: Any = object()


def _change(path: str, change: str, before: Any = _MISSING, to: Any = _MISSING) -> Change:
    out: Change = {"path": path, "change": change}
    if before is not _MISSING:
        out["from"] = before
    if to is not _MISSING:
        out["to"] = to
    return out
