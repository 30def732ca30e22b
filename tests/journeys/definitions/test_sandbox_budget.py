"""The sandbox's budget: each request of issue 18 refused before it builds, quickly."""

from __future__ import annotations

import time

import pytest

from journeys.definitions.expressions import ExpressionError, compile_expression
from journeys.definitions.sandbox import BudgetExceeded
from journeys.delivery.rendering import compile_part, render_part

# Each built ~100 MB or stalled the process for over a second before the budget.
TEMPLATE_BOMBS = [
    "{{ ('%0100000000d' % 1)|length }}",
    "{{ 'a'|center(100000000) }}",
    "{{ 'a'.ljust(100000000) }}",
    "{{ '{:>100000000}'.format(1) }}",
    "{{ '{:{w}}'.format(1, w=100000000) }}",
    "{{ 'a\nb'|indent(100000000) }}",
    "{{ range(100000)|join('x' * 99999) }}",
    "{% for i in range(1000) %}{{ 'x' * 100000 }}{% endfor %}",
    "{{ lipsum(20000) }}",
    "{% set ns = namespace(x='ab') %}{% for i in range(60) %}{% set ns.x = ns.x ~ ns.x %}"
    "{% endfor %}{{ ns.x|length }}",
    "{% set ns = namespace(x=[1]) %}{% for i in range(60) %}{% set ns.x = [ns.x, ns.x] %}"
    "{% endfor %}{{ ns.x|string|length }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
    "{{ f(40) }}",
    "{{ 9 ** (9 ** 7) }}",
    "{{ ('a' * 1000).replace('a', 'b' * 1000) }}",
    "{{ [1]|batch(1000000000, 'x')|list|length }}",
    "{{ 'a b'|wordwrap(1, wrapstring='x' * 100000) }}",
    "{{ (1).to_bytes(1000000000, 'big')|length }}",
    "{{ ([[0] * 1000] * 90)|sum(start=[])|length }}",
]


@pytest.mark.parametrize("source", TEMPLATE_BOMBS)
def test_a_template_bomb_is_refused_within_a_fraction_of_a_second(source: str) -> None:
    template = compile_part("text", source)
    started = time.monotonic()
    with pytest.raises(BudgetExceeded):
        render_part("text", template, {})
    assert time.monotonic() - started < 1.0


def test_ordinary_templates_render_as_before() -> None:
    source = (
        "Hi {{ customer.first_name|default('there')|title }}: "
        "{% for item in items %}{{ loop.index }}. {{ '%-6s'|format(item.name) }}"
        "{{ '{:>5.2f}'.format(item.price) }}{{ ', ' if not loop.last }}{% endfor %} "
        "{{ items|map(attribute='name')|join('/') }} {{ 'x' * 3 ~ '!' }} {{ 2 ** 10 }}"
    )
    items = [{"name": "tea", "price": 3.5}, {"name": "cake", "price": 12}]
    text = render_part("text", compile_part("text", source), {"customer": {}, "items": items})
    assert text == ("Hi There: 1. tea    3.50, 2. cake  12.00 tea/cake xxx! 1024")


def test_constant_arithmetic_is_not_folded_when_compiled() -> None:
    started = time.monotonic()
    expression = compile_expression("9 ** (9 ** 7) > 7")
    compile_part("text", "{{ ('a' * 300000000) == '' }}")
    assert time.monotonic() - started < 0.5
    with pytest.raises(ExpressionError, match="integer above 100,000 bits"):
        expression.evaluate({})


def test_an_expression_over_budget_fails_and_does_not_hold() -> None:
    expression = compile_expression("('a' * event.properties.n)|length > 0")
    names = {"event": {"properties": {"n": 400_000_000}}}
    with pytest.raises(ExpressionError, match="'\\*' would build 400,000,000"):
        expression.evaluate(names)
    assert expression.holds(names) is False
    assert expression.holds({"event": {"properties": {"n": 3}}}) is True


def test_expressions_cannot_change_what_they_read() -> None:
    names = {"event": {"properties": {"tags": ["a"]}}}
    assert not compile_expression("event.properties.tags.append('b')").holds(names)
    assert names["event"]["properties"]["tags"] == ["a"]


def test_nesting_too_deep_to_compile_is_a_parse_error() -> None:
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression("(" * 5000 + "1" + ")" * 5000)
