"""The Jinja2 sandbox of templates and expressions, with a budget no input can get around.

Jinja's sandbox keeps a template away from Python's internals, but not from the machine's memory
and time: ``'a' * 10**9``, ``'a'|center(10**9)``, ``'%0100000000d' % 1``, a loop doubling a
string, nested loops, a macro calling itself twice. :class:`BoundedSandbox` bounds every one,
deterministically (sizes and counts, never the clock), so the same limits hold in the API, in the
router and in workflow code, where an expression's value must replay identically:

- **One operation** (``*``, ``+``, ``%``, ``**``, ``~``, a filter, a string method, a format)
  builds at most :data:`MAX_SIZE` characters or items, checked *before* it runs; an integer has
  at most :data:`MAX_BITS` bits.
- **One render or evaluation** takes at most :data:`MAX_STEPS` steps (a loop iteration or an
  item measured is one, a call or a filter :data:`CALL_STEPS`) and builds at most
  :data:`MAX_CHARACTERS` characters or items in all (each operation's result, each output).
- **One render** outputs at most :data:`MAX_OUTPUT` characters.

Sizes are measured deeply (:func:`weight`): a list holding the same long string twice weighs
twice that string, as its text would. Every arithmetic operator is intercepted, so Jinja never
folds it at compile time (``9 ** (9 ** 7)`` is refused when evaluated, not computed when
compiled). A refusal is :class:`BudgetExceeded`, a ``SecurityError`` naming the operation.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any

import jinja2
from jinja2 import filters, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, modifies_known_mutable
from jinja2.utils import generate_lorem_ipsum

MAX_SIZE = 100_000
MAX_BITS = 100_000
MAX_OUTPUT = 1_000_000
MAX_CHARACTERS = 5_000_000
MAX_STEPS = 200_000
# What a call (a macro, a method, a filter) costs in steps: about ten loop iterations' time.
CALL_STEPS = 10
# ``lipsum(n, html, min, max)``: at most this many words (n paragraphs of up to max words).
MAX_LIPSUM_WORDS = 10_000

# The filter every ``for`` loop's iterable goes through; not a name a template can write.
_LOOP_FILTER = "journeys:loop"
_PERCENT_FIELD = re.compile(
    r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([diouxXeEfFgGcrsa%])"
)


class BudgetExceeded(SecurityError):
    """An operation, a render or an evaluation that would go over its budget."""


class _Budget:
    __slots__ = ("characters", "steps")

    def __init__(self) -> None:
        self.steps = 0
        self.characters = 0


_CURRENT: ContextVar[_Budget | None] = ContextVar("journeys_sandbox_budget", default=None)


@contextmanager
def budget() -> Iterator[None]:
    """A fresh budget for one render or evaluation."""
    token = _CURRENT.set(_Budget())
    try:
        yield
    finally:
        _CURRENT.reset(token)


def step(units: int, what: str) -> None:
    """Spend ``units`` steps of the current budget (MAX_STEPS); outside :func:`budget`
    (compiling) nothing is counted, though each operation's own bound still holds."""
    current = _CURRENT.get()
    if current is None:
        return
    current.steps += units
    if current.steps > MAX_STEPS:
        raise BudgetExceeded(
            f"{what} goes over the steps one render may take ({MAX_STEPS:,}: a loop iteration "
            f"or an item measured is one, a call or a filter {CALL_STEPS})"
        )


def spend(characters: int, what: str) -> None:
    """Spend ``characters`` of the current budget (MAX_CHARACTERS built in all)."""
    current = _CURRENT.get()
    if current is None:
        return
    current.characters += characters
    if current.characters > MAX_CHARACTERS:
        raise BudgetExceeded(
            f"{what} goes over the characters one render may build ({MAX_CHARACTERS:,} in all)"
        )


def weight(value: Any, cap: int = MAX_OUTPUT) -> int:
    """The size of ``value`` as text would spell it: a string's length, a container's items,
    nested, shared items counted each time. Stops counting past ``cap``; the counting itself is
    charged to the budget."""
    total = visited = 0
    pending = [value]
    while pending and total <= cap:
        item = pending.pop()
        visited += 1
        if isinstance(item, str | bytes):
            total += max(len(item), 1)
        elif isinstance(item, list | tuple | set | frozenset):
            total += 1
            pending.extend(item)
            visited += len(item)
        elif isinstance(item, dict):
            total += 1
            pending.extend(item.keys())
            pending.extend(item.values())
            visited += 2 * len(item)
        else:
            total += 1
    step(visited, "measuring a value")
    return total


def _limit(size: int, what: str, limit: int = MAX_SIZE) -> None:
    if size > limit:
        raise BudgetExceeded(f"{what} would build {size:,} characters or items (at most {limit:,})")


def _is_sequence(value: Any) -> bool:
    return isinstance(value, str | bytes | list | tuple)


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _percent_size(template: str | bytes, values: Any) -> int:
    """An upper bound of ``template % values``: each field's width and precision, plus the
    values' text (all of a mapping's for each named field)."""
    text = template.decode("latin-1") if isinstance(template, bytes) else template
    fields = widths = 0
    for match in _PERCENT_FIELD.finditer(text):
        if match.group(3) == "%":
            continue
        if "*" in (match.group(1), match.group(2)):
            raise BudgetExceeded("a '%' format may not take its width or precision from '*'")
        fields += 1
        widths += int(match.group(1) or 0) + int(match.group(2) or 0)
    measured = weight(values)
    spread = fields * measured if isinstance(values, Mapping) else measured
    return len(text) + spread + widths


def _format_size(template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """An upper bound of ``template.format(*args, **kwargs)``; a width taken from an argument
    (``{:{w}}``) is refused."""
    fields = widths = 0
    for _, name, spec, _ in string.Formatter().parse(template):
        if name is None:
            continue
        if spec and "{" in spec:
            raise BudgetExceeded("a format spec may not take a width from an argument")
        fields += 1
        widths += sum(int(digits) for digits in re.findall(r"\d+", spec or ""))
    return len(template) + fields * (weight(args) + weight(dict(kwargs))) + widths


def _check_method(owner: Any, name: str, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
    """Refuse a string method that would build more than MAX_SIZE, before it runs."""
    what = f"{type(owner).__name__}.{name}()"
    if name in {"center", "ljust", "rjust", "zfill"} and args:
        _limit(max(_int(args[0]), len(owner)), what)
    elif name == "expandtabs":
        tabs = owner.count("\t" if isinstance(owner, str) else b"\t")
        _limit(len(owner) + tabs * _int(args[0] if args else kw.get("tabsize", 8), 8), what)
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        count = _int(args[2] if len(args) > 2 else kw.get("count", -1), -1)
        found = owner.count(old) if old else len(owner) + 1
        if count >= 0:
            found = min(found, count)
        _limit(len(owner) + found * len(new), what)
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if _is_sequence(v)), default=1)
        _limit(len(owner) * max(longest, 1), what)


def _checked_join(owner: str | bytes, items: Iterable[Any]) -> Any:
    listed = list(items)
    _limit(weight(listed) + len(owner) * max(len(listed) - 1, 0), f"{type(owner).__name__}.join()")
    return owner.join(listed)


# -- Filters that build: each checked before it runs ----------------------------------------------


def _center(value: Any, width: int = 80) -> str:
    _limit(max(_int(width), 0), "center")
    return filters.do_center(value, width)


def _indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    unit = len(width) if isinstance(width, str) else _int(width)
    _limit(len(text) + (text.count("\n") + 1) * max(unit, 0), "indent")
    return filters.do_indent(text, width, first, blank)


@jinja2.pass_eval_context
def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    listed = list(value)
    _limit(weight(listed) + len(str(d)) * max(len(listed) - 1, 0), "join")
    return filters.sync_do_join(eval_ctx, listed, d, attribute)


@jinja2.pass_environment
def _wordwrap(
    environment: jinja2.Environment,
    s: str,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    text = str(s)
    wrap = wrapstring if wrapstring is not None else environment.newline_sequence
    _limit(len(text) * (1 + len(str(wrap))), "wordwrap")
    return filters.do_wordwrap(environment, text, width, break_long_words, wrap, break_on_hyphens)


@jinja2.pass_eval_context
def _replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
    text, old_text, new_text = str(s), str(old), str(new)
    found = text.count(old_text) if old_text else len(text) + 1
    if count is not None:
        found = min(found, max(_int(count), 0))
    _limit(len(text) + found * len(new_text), "replace")
    return filters.do_replace(eval_ctx, s, old, new, count)


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    _limit(_percent_size(str(value), kwargs or args), "format")
    return filters.do_format(value, *args, **kwargs)


def _batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    _limit(_int(linecount), "batch")
    return filters.do_batch(value, linecount, fill_with)


def _slice(value: Iterable[Any], slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
    _limit(_int(slices), "slice")
    return filters.sync_do_slice(list(value), slices, fill_with)


@jinja2.pass_environment
def _sum(
    environment: jinja2.Environment, iterable: Iterable[Any], attribute: Any = None, start: Any = 0
) -> Any:
    listed = list(iterable)
    if _is_sequence(start) or any(_is_sequence(item) for item in listed):
        # Adding sequences copies the running total each time: quadratic.
        total = weight(listed) + weight(start)
        _limit(total, "sum")
        spend(total * len(listed), "sum")
    return filters.sync_do_sum(environment, listed, attribute, start)


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    words = _int(n) * _int(max if max >= min else min)
    if words > MAX_LIPSUM_WORDS:
        raise BudgetExceeded(f"lipsum would write {words:,} words (at most {MAX_LIPSUM_WORDS:,})")
    return generate_lorem_ipsum(n, html, min, max)


@jinja2.pass_context
def _counted(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        step(1, "a loop")
        yield item


_BUILDING_FILTERS: dict[str, Callable[..., Any]] = {
    "center": _center,
    "indent": _indent,
    "join": _join,
    "wordwrap": _wordwrap,
    "replace": _replace,
    "format": _format,
    "batch": _batch,
    "slice": _slice,
    "sum": _sum,
}


def _built(value: Any, what: str) -> Any:
    """``value``, its weight charged when it is a string or container (so a structure sharing
    one item many times costs what its text would)."""
    if isinstance(value, str | bytes):
        spend(len(value), what)
    elif isinstance(value, list | tuple | dict | set | frozenset):
        spend(weight(value, MAX_CHARACTERS), what)
    return value


def _metered(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` charging a unit per call and the size of what it returns; ``wraps`` keeps its
    ``pass_context``-style marker."""

    @wraps(func)
    def metered(*args: Any, **kwargs: Any) -> Any:
        step(CALL_STEPS, f"filter {name!r}")
        return _built(func(*args, **kwargs), f"filter {name!r}")

    return metered


class _BudgetedCode(CodeGenerator):
    """Jinja's code generator, with every loop's iterable counted and every ``~`` measured."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            if not (isinstance(loop.iter, nodes.Filter) and loop.iter.name == _LOOP_FILTER):
                loop.iter = nodes.Filter(
                    loop.iter, _LOOP_FILTER, [], [], None, None, lineno=loop.iter.lineno
                )
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"{join}(environment.concat_parts((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write("environment.built(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("environment.built(")
        super().visit_Dict(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":
            super().visit_Tuple(node, frame)
            return
        self.write("environment.built(")
        super().visit_Tuple(node, frame)
        self.write(")")


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox (no attribute starting with ``_``, no unsafe callables) with the budget
    of this module; ``immutable`` also refuses methods that change a list, dict or set, as
    expressions need (they must not change the event they test)."""

    code_generator_class = _BudgetedCode
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, *, immutable: bool = False, **options: Any) -> None:
        # Unoptimized: with every operator intercepted there is little to fold, and Jinja's
        # optimizer costs time quadratic in an expression's nesting.
        options.setdefault("optimized", False)
        super().__init__(finalize=self._finalize, **options)
        self.immutable = immutable
        self.filters = {
            name: _metered(name, _BUILDING_FILTERS.get(name, func))
            for name, func in self.filters.items()
        }
        self.filters[_LOOP_FILTER] = _counted
        self.globals["lipsum"] = _lipsum

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        return not (self.immutable and modifies_known_mutable(obj, attr))

    @staticmethod
    def _finalize(value: Any) -> Any:
        size = weight(value)
        _limit(size, "the output", MAX_OUTPUT)
        spend(size, "the output")
        return value

    @staticmethod
    def built(value: Any) -> Any:
        """A list, tuple or dict literal's value, its weight charged."""
        return _built(value, "a literal")

    def concat_parts(self, parts: tuple[Any, ...]) -> tuple[Any, ...]:
        """The operands of ``~``, once their joined text is known to fit MAX_SIZE."""
        _limit(sum(weight(part) for part in parts), "'~'")
        return parts

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        both_int = isinstance(left, int) and isinstance(right, int)
        if operator == "*":
            for items, count in ((left, right), (right, left)):
                if _is_sequence(items) and isinstance(count, int):
                    _limit(weight(items, MAX_SIZE) * max(count, 0), "'*'")
            if both_int and left.bit_length() + right.bit_length() > MAX_BITS:
                raise BudgetExceeded(f"'*' would build an integer above {MAX_BITS:,} bits")
        elif operator == "**":
            if both_int and abs(left) > 1 and abs(left).bit_length() * abs(right) > MAX_BITS:
                raise BudgetExceeded(f"'**' would build an integer above {MAX_BITS:,} bits")
        elif operator == "+":
            if _is_sequence(left) and _is_sequence(right):
                _limit(weight(left, MAX_SIZE) + weight(right, MAX_SIZE), "'+'")
        elif operator == "%" and isinstance(left, str | bytes):
            _limit(_percent_size(left, right), "'%'")
        return _built(super().call_binop(context, operator, left, right), f"'{operator}'")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template: str = value.__self__

        @wraps(wrapped)
        def bounded(*args: Any, **kwargs: Any) -> str:
            if value.__name__ == "format_map":
                _limit(_format_size(template, (), args[0] if args else {}), "format_map()")
            else:
                _limit(_format_size(template, args, kwargs), "format()")
            return wrapped(*args, **kwargs)

        return bounded

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        step(CALL_STEPS, "a call")
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str | bytes):
            if name == "join" and len(args) == 1 and not kwargs:
                return _checked_join(owner, args[0])
            _check_method(owner, name, args, kwargs)
        elif isinstance(owner, int) and name == "to_bytes":
            _limit(_int(args[0] if args else kwargs.get("length", 1), 1), "int.to_bytes()")
        return _built(super().call(__context, __obj, *args, **kwargs), f"{name or 'a call'}()")


def render(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """Render ``template`` within a fresh budget, refusing past MAX_OUTPUT characters."""
    with budget():
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise BudgetExceeded(f"the output goes over {MAX_OUTPUT:,} characters")
            chunks.append(chunk)
        return "".join(chunks)
