"""Template rendering rules: sandboxed, strict, escaped where it must be."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeys.delivery.rendering import TemplateError, TemplateRenderer
from journeys.delivery.template_checks import validate
from journeys.delivery.templates_catalog import read_folder
from tests.conftest import REPO


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "promo.subject.j2").write_text("  Hi {{ name }}  \n")
    (tmp_path / "promo.txt.j2").write_text("Hi {{ name }}")
    (tmp_path / "promo.html.j2").write_text("<p>Hi {{ name }}</p>")
    (tmp_path / "nosubject.txt.j2").write_text("Hi")
    (tmp_path / "syntax.txt.j2").write_text("Hi {{ name ")
    return tmp_path


def test_html_is_escaped_and_text_is_not(folder: Path) -> None:
    message = TemplateRenderer(folder).render("promo", "email", {"name": "<b>Ada</b>"})
    assert message.subject == "Hi <b>Ada</b>"
    assert message.text == "Hi <b>Ada</b>"
    assert message.html == "<p>Hi &lt;b&gt;Ada&lt;/b&gt;</p>"


def test_sms_renders_only_the_text_part(folder: Path) -> None:
    message = TemplateRenderer(folder).render("promo", "sms", {"name": "Ada"})
    assert (message.subject, message.text, message.html) == (None, "Hi Ada", None)


@pytest.mark.parametrize(
    ("name", "channel", "context", "error"),
    [
        ("promo", "sms", {}, "promo.txt.j2: 'name' is undefined"),
        ("nosubject", "email", {}, "an email needs nosubject.subject.j2"),
        ("syntax", "sms", {"name": "x"}, "syntax.txt.j2 line 1:"),
        ("absent", "sms", {}, "template 'absent' not found"),
    ],
)
def test_errors_name_the_template_and_the_cause(
    folder: Path, name: str, channel: str, context: dict[str, object], error: str
) -> None:
    with pytest.raises(TemplateError) as raised:
        TemplateRenderer(folder).render(name, channel, context)
    assert error in str(raised.value)


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ name.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
def test_template_injection_is_refused(tmp_path: Path, attack: str) -> None:
    (tmp_path / "evil.txt.j2").write_text(attack)
    with pytest.raises(TemplateError) as raised:
        TemplateRenderer(tmp_path).render("evil", "sms", {"name": "x"})
    assert "evil.txt.j2" in str(raised.value)


def test_the_shipped_templates_render_with_a_bare_profile() -> None:
    renderer = TemplateRenderer(REPO / "templates")
    context = {"customer": {"id": "c1"}, "event": {"properties": {}}, "data": {}}
    sms = renderer.render("cart_recovery_sms", "sms", context)
    assert sms.text == (
        "Hi there, your cart is waiting. Complete your order: https://shop.example/cart"
    )
    for name in ("cart_recovery_email", "welcome_email", "welcome_tips_email"):
        assert renderer.render(name, "email", context).subject


def test_an_error_of_the_template_own_making_is_a_template_error(tmp_path: Path) -> None:
    (tmp_path / "divide.txt.j2").write_text("{{ 1 / 0 }}")
    (tmp_path / "huge.txt.j2").write_text("{{ 'x' * 10 ** 9 }}")
    renderer = TemplateRenderer(tmp_path)
    with pytest.raises(TemplateError, match=r"divide.txt.j2: ZeroDivisionError"):
        renderer.render("divide", "sms", {})
    with pytest.raises(TemplateError, match=r"huge.txt.j2: unsafe expression refused: '\*'"):
        renderer.render("huge", "sms", {})


def test_the_shipped_templates_check_out_for_the_channels_they_serve() -> None:
    shipped = read_folder(REPO / "templates", ["email", "sms"])
    assert set(shipped) >= {("cart_recovery_email", "email"), ("cart_recovery_sms", "sms")}
    for (_, channel), content in shipped.items():
        assert validate(channel, content.subject, content.text, content.html) == []
