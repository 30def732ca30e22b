"""How far a journey's runs got, step by step, and how each A/B variant of a send step did.

Both are counted from audit rows in SQL (journeys/insight/analytics.py has the cohort):

- reached per step: distinct runs with an audit row naming the step (see :func:`_step_key`).
  A declarative run names the definition's step id in ``data["step_id"]`` on every row its
  steps write (journeys/workflows/interpreter.py), so every step of the document is counted, in
  document order, zero included (a trait update's row and an exit step's end of the run carry it
  too, through their activities' inputs). Rows written before runs carried step ids name only
  sends, variant draws, branches, splits and webhook calls, so such a run is missing from its
  other steps' counts.
  A code journey has no list of steps: its funnel is the steps its runs named, in the order
  they first came (journeys/workflows/dsl.py says which steps those are);
- variants: the ``variant`` audit rows (their payload, journeys.audit.Picked: ``{"variant":
  <send step>, "chosen": <name>}``) of runs outside the holdout (a holdout run draws a variant
  too, but is sent nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.contracts import STEP_ID
from journeys.insight.stats import Comparison, Proportion, compare, proportion
from journeys.store.models import AuditEvent, Conversion, Delivery, JourneyDefinition, JourneyRun
from journeys.vocabulary import AuditKind, DeliveryStatus

# The audit kinds a code journey's wait and webhook steps write (their funnel type).
_WAIT_KINDS = (AuditKind.WAITING, AuditKind.TIMED_OUT, AuditKind.RECEIVED)
_WEBHOOK_KINDS = (AuditKind.WEBHOOK_CALLED, AuditKind.WEBHOOK_FAILED)


@dataclass(frozen=True)
class StepReach:
    """How many runs got to one step (distinct runs with an audit row of the step).
    ``share`` is of the runs that entered."""

    step: str
    type: str | None
    reached: int
    share: float | None


@dataclass(frozen=True)
class VariantResult:
    """One A/B variant of one send step, over the runs outside the holdout that drew it.

    ``customers`` drew it, ``sent`` were sent it (the others were skipped by consent, caps or
    a missing address, or exited first), ``conversions`` converted (after the draw or not:
    the goal counts per run). ``vs_first`` compares it with the step's first variant.
    """

    step: str
    variant: str
    template: str | None
    customers: int
    sent: int
    conversions: int
    revenue: float
    rate: Proportion
    vs_first: Comparison | None


@dataclass(frozen=True)
class DocumentStep:
    id: str
    type: str
    variants: tuple[tuple[str, str], ...] = ()  # (name, template), in the document's order


async def documents(session: AsyncSession, key: str, version: int | None) -> list[dict[str, Any]]:
    """The documents whose steps order the funnel: the version asked for, or every version,
    newest first (a step of the newest version comes first; older steps follow)."""
    query = select(JourneyDefinition.document).where(JourneyDefinition.key == key)
    if version is not None:
        query = query.where(JourneyDefinition.version == version)
    rows = await session.scalars(query.order_by(JourneyDefinition.version.desc()))
    return [doc for doc in rows if isinstance(doc, dict)]


def document_steps(documents: Sequence[dict[str, Any]]) -> list[DocumentStep]:
    """The steps of the documents, in order, each id once (its newest version wins)."""
    steps: dict[str, DocumentStep] = {}
    for document in documents:
        raw_steps = document.get("steps")
        if not isinstance(raw_steps, list):
            continue  # a code journey's declaration: no steps
        for raw in raw_steps:
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                continue
            variants = tuple(
                (str(v.get("name")), str(v.get("template")))
                for v in raw.get("variants") or ()
                if isinstance(v, dict)
            )
            steps.setdefault(raw["id"], DocumentStep(raw["id"], str(raw.get("type")), variants))
    return list(steps.values())


def _step_key() -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The step id an audit row names, and that step's type as a code journey shows it; NULL
    when it names none.

    ``data.step_id`` first (every row a step writes through the DSL, journeys/workflows/dsl.py).
    Then what rows named before it existed, and what rows written by activities still name: a
    variant draw, a branch and a split in ``data``; a holdout's skip and a webhook call in
    ``data.step``; a send's outcome (delivery, compliance skip or deferral, each with
    ``data.channel``) in the ``step`` column.
    The type, for code journeys only (a declarative step's is its document's), follows the
    row's kind; a step's rows are of one type but for a webhook's holdout skip, which the
    ``max`` over the step's rows turns into ``webhook`` (alphabetically after ``send``).
    """
    data = AuditEvent.data
    tagged = data[STEP_ID].as_string()
    variant, branch, split = (
        data[str(k)].as_string() for k in (AuditKind.VARIANT, "branch", AuditKind.SPLIT)
    )
    named = data["step"].as_string()
    sent = case((data["channel"].as_string().is_not(None), AuditEvent.step))
    key = func.coalesce(tagged, variant, branch, split, named, sent)
    kind = case(
        (branch.is_not(None), "branch"),
        (split.is_not(None), "split"),
        (AuditEvent.kind.in_(_WAIT_KINDS), "wait"),
        (AuditEvent.kind == AuditKind.EMITTED, "emit"),
        (AuditEvent.kind.in_(_WEBHOOK_KINDS), "webhook"),
        else_="send",
    )
    return key, kind


async def steps_reached(
    session: AsyncSession,
    cohort: list[ColumnElement[bool]],
    entered: int,
    documents: Sequence[dict[str, Any]],
) -> list[StepReach]:
    key, kind = _step_key()
    # Each row's step in a subquery, grouped outside it: the GROUP BY is then a plain column
    # on PostgreSQL too, whatever parameters the step's expression holds.
    named = (
        select(
            key.label("step"),
            kind.label("type"),
            AuditEvent.run_id.label("run_id"),
            AuditEvent.seq.label("seq"),
        )
        .join(JourneyRun, AuditEvent.run_id == JourneyRun.id)
        .where(*cohort)
        .subquery()
    )
    rows = await session.execute(
        select(
            named.c.step,
            func.count(named.c.run_id.distinct()),
            func.min(named.c.seq),
            func.max(named.c.type),
        )
        .where(named.c.step.is_not(None))
        .group_by(named.c.step)
    )
    counted = {step: (runs, first_seq, step_type) for step, runs, first_seq, step_type in rows}

    def share(reached: int) -> float | None:
        return reached / entered if entered else None

    declared = document_steps(documents)
    if declared:
        out = []
        for step in declared:
            reached = counted.get(step.id, (0,))[0]
            out.append(StepReach(step.id, step.type, reached, share(reached)))
        return out
    # A code journey: its steps are what its runs named, in the order they first came.
    ordered = sorted(counted.items(), key=lambda item: (item[1][1], item[0]))
    return [StepReach(step, kind, runs, share(runs)) for step, (runs, _, kind) in ordered]


async def variant_results(
    session: AsyncSession,
    cohort: list[ColumnElement[bool]],
    documents: Sequence[dict[str, Any]],
) -> list[VariantResult]:
    step = AuditEvent.data[str(AuditKind.VARIANT)].as_string()
    chosen = AuditEvent.data["chosen"].as_string()
    sent = and_(
        Delivery.run_id == AuditEvent.run_id,
        Delivery.step == step,
        Delivery.status == DeliveryStatus.SENT,
    )
    rows = await session.execute(
        select(
            step,
            chosen,
            func.count(AuditEvent.run_id.distinct()),
            func.count(Delivery.run_id.distinct()),
            func.max(Delivery.template),
            func.count(Conversion.run_id.distinct()),
            func.sum(Conversion.revenue),
        )
        .select_from(AuditEvent)
        .join(JourneyRun, AuditEvent.run_id == JourneyRun.id)
        .outerjoin(Delivery, sent)
        .outerjoin(Conversion, Conversion.run_id == AuditEvent.run_id)
        .where(
            *cohort,
            AuditEvent.kind == AuditKind.VARIANT,
            JourneyRun.holdout.is_(False),
            step.is_not(None),
            chosen.is_not(None),
        )
        .group_by(step, chosen)
    )
    declared = {s.id: s for s in document_steps(documents)}
    by_step: dict[str, list[tuple[str, str | None, int, int, int, float]]] = {}
    for step_id, name, customers, delivered, template, converted, revenue in rows:
        by_step.setdefault(step_id, []).append(
            (name, template, customers, delivered, converted, float(revenue or 0.0))
        )
    order = {s: i for i, s in enumerate(declared)}
    results = []
    for step_id in sorted(by_step, key=lambda s: (order.get(s, len(order)), s)):
        known = declared.get(step_id)
        templates = dict(known.variants) if known else {}
        names = list(templates)
        arms = sorted(
            by_step[step_id],
            key=lambda arm: (names.index(arm[0]) if arm[0] in names else len(names), arm[0]),
        )
        first = arms[0]
        for name, template, customers, delivered, converted, revenue in arms:
            versus = None if name == first[0] else compare(converted, customers, first[4], first[2])
            results.append(
                VariantResult(
                    step=step_id,
                    variant=name,
                    template=templates.get(name, template),
                    customers=customers,
                    sent=delivered,
                    conversions=converted,
                    revenue=revenue,
                    rate=proportion(converted, customers),
                    vs_first=versus,
                )
            )
    return results
