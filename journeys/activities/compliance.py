"""The compliance check: the activity a journey's ``send`` step runs before the send activity.

It reads what bears on the message (the customer's consent, the address's suppressions, their
timezone, the marketing messages they got lately), lets :func:`journeys.delivery.compliance.decide`
rule, and records a skip or a deferral itself, in one transaction and idempotently (the audit row by
(run, seq), the skipped delivery row by (run, step)), so a retried check writes nothing twice.

Under a frequency cap, a marketing check counts the customer's recent marketing while holding
the customer's lock (:func:`journeys.store.consent.lock_customer`) and claims the message it
lets through (an ``allowed`` delivery row, which the send activity takes over) before that lock
is released: N checks at the same moment pass a cap of N no more than N times.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from journeys import metrics
from journeys.activities.runs import add_audit_once
from journeys.audit import Compliance
from journeys.contracts import (
    ACTIVITY_CHECK_SEND,
    DEFER,
    MARKETING,
    SEND,
    SKIP,
    AuditRecord,
    ComplianceCheck,
    ComplianceDecision,
    SendRequest,
)
from journeys.delivery.channels import ADDRESS_TRAITS
from journeys.delivery.compliance import (
    Facts,
    Policy,
    QuietHours,
    Verdict,
    decide,
    timezone_of,
)
from journeys.store import consent, customers
from journeys.store.db import Sessions
from journeys.store.models import Customer, Delivery
from journeys.vocabulary import AuditKind, DeliveryStatus

log = logging.getLogger(__name__)


class ComplianceActivities:
    """A marketing send let through under a frequency cap is claimed in the same transaction as
    the count, as an ``allowed`` delivery row the send activity takes over, so concurrent checks
    for one customer cannot together pass more than the cap (docs/delivery.md "Frequency cap")."""

    def __init__(self, sessions: Sessions, policy: Policy) -> None:
        self.sessions = sessions
        self.policy = policy

    def all(self) -> list[Any]:
        return [self.check_send]

    @activity.defn(name=ACTIVITY_CHECK_SEND)
    async def check_send(self, check: ComplianceCheck) -> ComplianceDecision:
        """Send, skip or defer ``check.request``; a skip or deferral is audited at its ``seq``."""
        request = check.request
        run = request.run
        async with self.sessions.begin() as session:
            identity = await customers.resolve(session, run.customer_id)
            capped = request.category == MARKETING and self.policy.frequency_cap > 0
            if capped:
                # Count and claim atomically per customer (consent.lock_customer).
                await consent.lock_customer(session, identity.customer_id)
            existing = await session.scalar(
                select(Delivery).where(Delivery.run_id == run.run_id, Delivery.step == request.step)
            )
            if existing is not None:
                # A retry of a check that concluded the step: the same answer. (A row written by
                # the send activity is returned by it as it is.)
                if existing.status == DeliveryStatus.SKIPPED:
                    return ComplianceDecision(SKIP, existing.reason, "", delivery_id=existing.id)
                return ComplianceDecision(SEND, "already handed to the send activity", "")
            facts = await self._facts(session, check, identity)
            verdict = decide(facts, self.policy, request.requested_at)
            if verdict.action == SKIP:
                delivery_id = await _record_skip(session, request, verdict)
                metrics.compliance_skipped(verdict.code)
                log.info("step %s of %s skipped: %s", request.step, run.workflow_id, verdict.reason)
                return ComplianceDecision(
                    SKIP, verdict.reason, verdict.code, delivery_id=delivery_id
                )
            if verdict.action == DEFER:
                assert verdict.until is not None
                await add_audit_once(
                    session,
                    _audit(
                        request,
                        AuditKind.DEFERRED,
                        verdict,
                        until=verdict.until.isoformat(),
                        timezone=facts.timezone.key,
                    ),
                )
            elif capped:
                delivery_id = await _record_claim(session, request, verdict)
                return ComplianceDecision(
                    SEND, verdict.reason, verdict.code, delivery_id=delivery_id
                )
            return ComplianceDecision(verdict.action, verdict.reason, verdict.code, verdict.until)

    async def _facts(
        self, session: AsyncSession, check: ComplianceCheck, identity: customers.Identity
    ) -> Facts:
        request = check.request
        policy = self.policy
        profile = await session.get(Customer, identity.customer_id)
        traits = (profile.traits or {}) if profile else {}
        address = traits.get(ADDRESS_TRAITS.get(request.channel, request.channel))
        channel_consent, group_consent = await consent.consent_status(
            session, identity.ids, request.channel, request.group
        )
        suppressions = (
            await consent.suppressions_of(session, request.channel, str(address))
            if isinstance(address, str | int) and address != ""
            else ()
        )
        recent = 0
        if request.category == MARKETING and policy.frequency_cap:
            recent = await consent.recent_marketing(
                session,
                identity.ids,
                request.requested_at - policy.frequency_window,
                channel=request.channel if policy.cap_per_channel else None,
                excluding=(request.run.run_id, request.step),
            )
        quiet = (
            policy.quiet_hours_of(request.channel)
            if check.quiet_hours is None
            else QuietHours.parse(check.quiet_hours)
        )
        return Facts(
            channel=request.channel,
            category=request.category,
            group=request.group,
            channel_consent=channel_consent,
            group_consent=group_consent,
            suppressions=suppressions,
            timezone=timezone_of(profile.timezone if profile else None, policy.default_timezone),
            quiet_hours=quiet,
            quiet_hours_served=check.deferred_until is not None,
            recent_marketing=recent,
        )


async def _record_skip(session: AsyncSession, request: SendRequest, verdict: Verdict) -> int:
    """The step's delivery row, ``skipped`` with the reason, and its audit row."""
    delivery = _delivery_row(request, DeliveryStatus.SKIPPED, verdict.reason)
    session.add(delivery)
    await session.flush()
    await add_audit_once(
        session, _audit(request, AuditKind.SKIPPED, verdict, delivery_id=delivery.id)
    )
    return delivery.id


async def _record_claim(session: AsyncSession, request: SendRequest, verdict: Verdict) -> int:
    """The step's delivery row, ``allowed``: it counts towards the frequency cap from this
    transaction's commit on, and the send activity takes it over. Not audited: the send
    activity audits the step's outcome at the same ``seq``."""
    delivery = _delivery_row(request, DeliveryStatus.ALLOWED, verdict.reason)
    session.add(delivery)
    await session.flush()
    return delivery.id


def _delivery_row(request: SendRequest, status: DeliveryStatus, reason: str) -> Delivery:
    return Delivery(
        run_id=request.run.run_id,
        customer_id=request.run.customer_id,
        step=request.step,
        channel=request.channel,
        provider="none",
        template=request.template,
        status=status,
        reason=reason,
        requested_at=request.requested_at,
        category=request.category,
    )


def _audit(
    request: SendRequest,
    kind: AuditKind,
    verdict: Verdict,
    *,
    delivery_id: int | None = None,
    until: str | None = None,
    timezone: str | None = None,
) -> AuditRecord:
    """A skip's or a deferral's audit row: its payload a :class:`Compliance`."""
    decided = Compliance(
        channel=request.channel,
        template=request.template,
        category=request.category,
        group=request.group,
        compliance=verdict.code,
        delivery_id=delivery_id,
        until=until,
        timezone=timezone,
    )
    return AuditRecord(
        run=request.run,
        seq=request.seq,
        kind=kind,
        reason=verdict.reason,
        occurred_at=request.requested_at,
        step=request.step,
        data=decided.data(),
    )
