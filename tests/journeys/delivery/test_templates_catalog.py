"""Templates in the store: versions, seeding from the shipped files, the send path's catalog, and
the checks a draft gets before it is saved."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from journeys.delivery.rendering import TemplateError
from journeys.delivery.template_checks import Problem, check, sample_context, sms_segments, validate
from journeys.delivery.templates_catalog import TemplateCatalog, seed_templates
from journeys.store import templates as repo
from tests.conftest import REPO, Store

CONTEXT: dict[str, Any] = {
    "customer": {"id": "c1", "first_name": "Ada"},
    "event": {"name": "Cart Abandoned", "properties": {"cart_id": "K9"}},
    "journey": {"key": "cart-recovery", "version": 1},
    "data": {},
}


async def add(
    s: Store,
    name: str,
    channel: str = "sms",
    *,
    subject: str | None = None,
    text: str | None = None,
    html: str | None = None,
    source: str = repo.API,
) -> int:
    async with s.sessions.begin() as session:
        content = repo.Content(subject, text, html)
        previous = await repo.latest_number(session, name, channel)
        row = await repo.add_version(
            session, name, channel, content, previous=previous, source=source
        )
        return row.version


@contextmanager
def counting_queries(s: Store) -> Iterator[list[str]]:
    engine = s.sessions.kw["bind"].sync_engine
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


# -- Versions -----------------------------------------------------------------------------------


async def test_saving_adds_a_version_and_the_latest_is_the_highest(store: Store) -> None:
    assert await add(store, "promo", text="one") == 1
    assert await add(store, "promo", text="two") == 2
    assert await add(store, "promo", "email", subject="S", text="mail") == 1
    async with store.sessions() as session:
        assert await repo.latest_number(session, "promo", "sms") == 2
        assert [r.version for r in await repo.versions(session, "promo", "sms")] == [2, 1]
        old = await repo.get(session, "promo", "sms", 1)
        assert old is not None and old.text == "one"
        latest = [(r.channel, r.name, r.version) for r in await repo.latest_all(session)]
        assert latest == [("email", "promo", 1), ("sms", "promo", 2)]
        assert [r.channel for r in await repo.latest_all(session, "sms")] == ["sms"]


async def test_a_template_can_be_checked_to_exist_one_or_many_at_once(store: Store) -> None:
    await add(store, "promo", text="x")
    catalog = TemplateCatalog(store.sessions)
    assert await catalog.exists("promo", "sms")
    assert not await catalog.exists("promo", "email")
    wanted = [("promo", "sms"), ("promo", "email"), ("absent", "sms"), ("promo", "sms")]
    assert await catalog.missing(wanted) == [("promo", "email"), ("absent", "sms")]
    assert await catalog.missing([]) == []


# -- Seeding ------------------------------------------------------------------------------------


@pytest.fixture
def shipped(tmp_path: Path, store: Store) -> Path:
    """A copy of the shipped templates, which the test may change."""
    folder = tmp_path / "shipped"
    shutil.copytree(REPO / "templates", folder)
    store.settings = store.settings.model_copy(update={"templates_dir": folder})
    return folder


async def test_seeding_stores_each_file_template_for_the_channels_it_serves(
    store: Store, shipped: Path
) -> None:
    report = await seed_templates(store.sessions, store.settings)
    # An email (it has a subject) on email only; a text message on every other channel.
    assert sorted(report.created) == [
        "email/cart_recovery_email",
        "email/welcome_email",
        "email/welcome_tips_email",
        "sms/cart_recovery_sms",
    ]
    async with store.sessions() as session:
        row = await repo.get(session, "cart_recovery_email", "email")
        assert row is not None and (row.version, row.source) == (1, "seed")
        assert row.subject == (shipped / "cart_recovery_email.subject.j2").read_text()
        assert row.html == (shipped / "cart_recovery_email.html.j2").read_text()
        sms = await repo.get(session, "cart_recovery_sms", "sms")
        assert sms is not None and (sms.subject, sms.html) == (None, None)


async def test_seeding_again_changes_nothing(store: Store, shipped: Path) -> None:
    first = await seed_templates(store.sessions, store.settings)
    again = await seed_templates(store.sessions, store.settings)
    assert (again.created, again.updated, again.kept) == ([], [], [])
    assert sorted(again.unchanged) == sorted(first.created)


async def test_workers_seeding_at_the_same_moment_store_one_version(
    store: Store, shipped: Path
) -> None:
    reports = await asyncio.gather(*(seed_templates(store.sessions, store.settings) for _ in "ab"))
    assert all(r.skipped == [] for r in reports)
    async with store.sessions() as session:
        assert await repo.latest_number(session, "welcome_email", "email") == 1


async def test_a_changed_file_becomes_a_new_seeded_version(store: Store, shipped: Path) -> None:
    await seed_templates(store.sessions, store.settings)
    (shipped / "welcome_email.subject.j2").write_text("Welcome, {{ customer.first_name }}!")
    report = await seed_templates(store.sessions, store.settings)
    assert report.updated == ["email/welcome_email"]
    async with store.sessions() as session:
        row = await repo.get(session, "welcome_email", "email")
        assert row is not None and (row.version, row.source) == (2, "seed")
        assert row.subject == "Welcome, {{ customer.first_name }}!"


async def test_a_file_change_never_replaces_a_version_saved_through_the_api(
    store: Store, shipped: Path
) -> None:
    await seed_templates(store.sessions, store.settings)
    await add(store, "welcome_email", "email", subject="Edited", text="By marketing")

    assert "email/welcome_email" in (await seed_templates(store.sessions, store.settings)).unchanged
    (shipped / "welcome_email.subject.j2").write_text("Shipped change")
    report = await seed_templates(store.sessions, store.settings)
    assert report.kept == ["email/welcome_email"] and report.updated == []
    async with store.sessions() as session:
        row = await repo.get(session, "welcome_email", "email")
        assert row is not None and (row.version, row.subject) == (2, "Edited")


async def test_seeding_without_the_folder_does_nothing(store: Store, tmp_path: Path) -> None:
    settings = store.settings.model_copy(update={"templates_dir": tmp_path / "absent"})
    report = await seed_templates(store.sessions, settings)
    assert report.created == []


async def test_text_only_files_serve_every_configured_channel_but_email(
    store: Store, tmp_path: Path
) -> None:
    (tmp_path / "note.txt.j2").write_text("Hi {{ customer.id }}")
    (tmp_path / "bad name.txt.j2").write_text("skipped")
    settings = store.settings.model_copy(
        update={
            "templates_dir": tmp_path,
            "channel_providers": {"sms": "console", "email": "console", "webhook": "console"},
        }
    )
    report = await seed_templates(store.sessions, settings)
    assert sorted(report.created) == ["sms/note", "webhook/note"]


async def test_an_email_is_seeded_on_email_only_whatever_channels_are_configured(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The text part of an email is its plain-text alternative: not an SMS, nor a webhook body.
    (Seeding used to store it on every configured channel, so each email was listed twice.)"""
    (tmp_path / "promo.subject.j2").write_text("Sale")
    (tmp_path / "promo.txt.j2").write_text("Everything must go")
    (tmp_path / "promo.html.j2").write_text("<p>Everything must go</p>")
    (tmp_path / "html_only.subject.j2").write_text("Hi")
    (tmp_path / "html_only.html.j2").write_text("<p>Hi</p>")
    (tmp_path / "ping.txt.j2").write_text("Ping")
    (tmp_path / "no_body.subject.j2").write_text("Nothing else")
    settings = store.settings.model_copy(
        update={
            "templates_dir": tmp_path,
            "channel_providers": {"sms": "console", "email": "console", "webhook": "console"},
        }
    )
    report = await seed_templates(store.sessions, settings)
    assert sorted(report.created) == [
        "email/html_only",
        "email/promo",
        "sms/ping",
        "webhook/ping",
    ]
    assert "no_body.*.j2 skipped: an email needs a text or html part" in caplog.text
    async with store.sessions() as session:
        listed = [(row.channel, row.name) for row in await repo.latest_all(session)]
    assert listed == [
        ("email", "html_only"),
        ("sms", "ping"),
        ("webhook", "ping"),
        ("email", "promo"),
    ]


async def test_without_the_email_channel_an_email_is_not_seeded_anywhere(
    store: Store, tmp_path: Path
) -> None:
    (tmp_path / "promo.subject.j2").write_text("Sale")
    (tmp_path / "promo.txt.j2").write_text("Everything must go")
    settings = store.settings.model_copy(
        update={"templates_dir": tmp_path, "channel_providers": {"sms": "console"}}
    )
    assert (await seed_templates(store.sessions, settings)).created == []


# -- The catalog: rendering for the send path ---------------------------------------------------


async def test_render_uses_the_latest_version_and_says_which(store: Store) -> None:
    await add(store, "promo", "email", subject=" Hi {{ customer.first_name }} ", text="t1")
    await add(store, "promo", "email", subject="Hi", text="t2", html="<p>{{ event.name }}</p>")
    catalog = TemplateCatalog(store.sessions)
    rendered = await catalog.render("promo", "email", CONTEXT)
    assert (rendered.version, rendered.template, rendered.channel) == (2, "promo", "email")
    assert (rendered.subject, rendered.text, rendered.html) == ("Hi", "t2", "<p>Cart Abandoned</p>")
    first = await catalog.render("promo", "email", CONTEXT, version=1)
    assert (first.version, first.subject, first.html) == (1, "Hi Ada", None)


async def test_html_is_escaped_and_text_and_subject_are_not(store: Store) -> None:
    name = "<b>Ada</b>"
    await add(store, "x", "email", subject="{{ n }}", text="{{ n }}", html="<p>{{ n }}</p>")
    rendered = await TemplateCatalog(store.sessions).render("x", "email", {"n": name})
    assert (rendered.subject, rendered.text) == (name, name)
    assert rendered.html == "<p>&lt;b&gt;Ada&lt;/b&gt;</p>"


async def test_a_cached_version_costs_one_query_and_a_new_version_is_picked_up(
    store: Store,
) -> None:
    await add(store, "promo", text="first {{ customer.first_name }}")
    catalog = TemplateCatalog(store.sessions)
    assert (await catalog.render("promo", "sms", CONTEXT)).text == "first Ada"
    with counting_queries(store) as queries:
        assert (await catalog.render("promo", "sms", CONTEXT)).text == "first Ada"
    assert len(queries) == 1 and "ORDER BY" in queries[0]

    await add(store, "promo", text="second {{ customer.first_name }}")
    rendered = await catalog.render("promo", "sms", CONTEXT)
    assert (rendered.version, rendered.text) == (2, "second Ada")


async def test_the_cache_keeps_the_most_recently_used_versions(store: Store) -> None:
    for name in ("a", "b", "c"):
        await add(store, name, text=name)
    catalog = TemplateCatalog(store.sessions, cache_size=2)
    for name in ("a", "b", "a", "c"):
        await catalog.render(name, "sms", CONTEXT)
    assert list(catalog._cache) == [("a", "sms", 1), ("c", "sms", 1)]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Hi {{ customer.nickname }}", "template 'bad' v1 (sms) text line 1: "),
        ("Hi\n{{ customer.nickname }}", "'customer.nickname' is undefined"),
        ("{{ event.properties.total }}", "text line 1: 'event.properties.total' is undefined"),
        ("Hi\n\n{{ name ", "template 'bad' v1 (sms) text line 3: unexpected end of template"),
        ("{{ 1 / 0 }}", "text line 1: ZeroDivisionError"),
    ],
)
async def test_render_errors_name_template_version_part_and_line(
    store: Store, text: str, error: str
) -> None:
    await add(store, "bad", text=text)
    with pytest.raises(TemplateError) as raised:
        await TemplateCatalog(store.sessions).render("bad", "sms", CONTEXT)
    assert error in str(raised.value)


async def test_an_unknown_template_or_version_is_a_template_error(store: Store) -> None:
    await add(store, "promo", text="x")
    catalog = TemplateCatalog(store.sessions)
    with pytest.raises(TemplateError, match="template 'absent' not found for channel 'sms'"):
        await catalog.render("absent", "sms", CONTEXT)
    with pytest.raises(TemplateError, match="template 'promo' not found for channel 'email'"):
        await catalog.render("promo", "email", CONTEXT)
    with pytest.raises(TemplateError, match="has no version 7"):
        await catalog.render("promo", "sms", CONTEXT, version=7)


QUOTE = "\u2019"  # the typographic apostrophe, not in GSM-7

ATTACKS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ self.__dict__ }}",
    "{{ customer._path }}",
    "{{ customer.__class__.__base__ }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ 'x' * 1000000000 }}",
    "{{ 10 ** (10 ** 10) }}",
]


@pytest.mark.parametrize("attack", ATTACKS)
async def test_template_injection_fails_safely(store: Store, attack: str) -> None:
    await add(store, "evil", text=attack)
    with pytest.raises(TemplateError) as raised:
        await TemplateCatalog(store.sessions).render("evil", "sms", CONTEXT)
    assert "template 'evil' v1 (sms) text" in str(raised.value)
    assert "unsafe expression refused" in str(raised.value)


# -- Checking a draft ---------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ATTACKS)
def test_validation_reports_an_injection_attempt_as_unsafe(attack: str) -> None:
    [problem] = validate("sms", None, attack, None)
    assert (problem.field, problem.code, problem.line) == ("text", "unsafe", 1)


def test_a_syntax_error_names_the_part_and_line() -> None:
    problems = validate("email", "Hi", "Line one\nLine two {{ customer.first_name ", None)
    assert problems == [
        Problem(
            "text",
            "line 2: unexpected end of template, expected 'end of print statement'.",
            "syntax",
            line=2,
        )
    ]


def test_an_undefined_variable_is_named_with_its_line() -> None:
    [problem] = validate("email", "Hi", "ok", "<p>\n{{ customer.nickname }}</p>")
    assert problem == Problem(
        "html", "line 2: 'customer.nickname' is undefined", "undefined", line=2
    )
    [top] = validate("sms", None, "{{ coupon }}", None)
    assert top.message == "line 1: 'coupon' is undefined"


def test_the_sample_data_can_be_replaced() -> None:
    sample = sample_context(customer={"nickname": "Ace"}, event={"properties": {"total": 3}})
    assert (
        validate("sms", None, "{{ customer.nickname }} {{ event.properties.total }}", None, sample)
        == []
    )
    # The given profile replaces the sample one: its first name is gone.
    [problem] = validate("sms", None, "{{ customer.first_name }}", None, sample)
    assert problem.code == "undefined" and sample["customer"]["id"] == "sample-customer"


@pytest.mark.parametrize(
    ("channel", "parts", "expected"),
    [
        ("email", {"text": "x"}, [("subject", "required")]),
        ("email", {"subject": "s", "text": "  "}, [("text", "required")]),
        ("email", {"subject": "s", "html": "<p>x</p>"}, []),
        ("email", {"subject": "{{ '\\n' }}Hi", "text": "x"}, []),
        ("email", {"subject": "Hi\n{{ 'there' }}\nyou", "text": "x"}, [("subject", "line_break")]),
        (
            "sms",
            {"subject": "s", "text": "x", "html": "h"},
            [("subject", "not_allowed"), ("html", "not_allowed")],
        ),
        ("sms", {"html": "h"}, [("text", "required"), ("html", "not_allowed")]),
        ("webhook", {"subject": "s", "text": "x"}, []),
        ("webhook", {"subject": "s"}, [("text", "required")]),
    ],
)
def test_each_channel_needs_its_parts(
    channel: str, parts: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    checked = check(channel, parts.get("subject"), parts.get("text"), parts.get("html"))
    assert [(p.field, p.code) for p in checked.errors] == expected


def test_a_valid_draft_comes_back_rendered() -> None:
    checked = check("email", "Hi {{ customer.first_name }}", "Text", "<b>{{ customer.id }}</b>")
    assert checked.problems == []
    assert checked.rendered == {
        "subject": "Hi Ada",
        "text": "Text",
        "html": "<b>sample-customer</b>",
    }


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        # Extension characters take two septets ...
        ("€" * 80, "GSM-7", 160, 1),
        ("{" * 81, "GSM-7", 162, 2),
        # ... and an escape pair is never split: 152 + 2 does not fit a 153-septet part.
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),
        ("Ça coûte 5 £, ¿vale?", "UCS-2", 20, 1),  # û is not GSM-7
        ("é" * 160, "GSM-7", 160, 1),
        (QUOTE * 70, "UCS-2", 70, 1),
        (QUOTE * 71, "UCS-2", 71, 2),
        ("a" * 134 + QUOTE, "UCS-2", 135, 3),
        # Beyond the BMP, a character is a surrogate pair: two units, never split.
        ("😀" * 35, "UCS-2", 70, 1),
        ("😀" * 36, "UCS-2", 72, 2),
        ("a" * 66 + "😀" + "a" * 66, "UCS-2", 134, 3),
    ],
)
def test_sms_segments(text: str, encoding: str, units: int, segments: int) -> None:
    info = sms_segments(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)
    assert info.characters == len(text)


def test_sms_length_problems() -> None:
    [many] = validate("sms", None, "{{ 'a' * 500 }}", None)
    assert (many.code, many.severity) == ("sms_segments", "warning")
    assert "4 segments (GSM-7" in many.message
    [too_long] = validate("sms", None, "{{ 'a' * 1601 }}", None)
    assert (too_long.code, too_long.severity) == ("sms_length", "error")
    [curly] = validate("sms", None, "It" + QUOTE + "s " + "a" * 150, None)
    assert (curly.code, curly.severity) == ("sms_encoding", "warning")
    assert "'\u2019' (U+2019)" in curly.message and "3 segments instead of 1" in curly.message
    # A text that is UCS-2 through and through gets no advice about it.
    assert validate("sms", None, "Привет, {{ customer.first_name }}", None) == []
    assert check("sms", None, "Hi {{ customer.first_name }}", None).sms == sms_segments("Hi Ada")
