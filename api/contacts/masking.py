"""Contact details as a caller may see them: in full for roles that need them, masked otherwise.

Support answers "why did this customer get this message?" without needing the address itself:
``a**@example.com`` and ``+1******1111`` are enough to tell two customers or two numbers apart
on a call, and a support key that leaks shows no one's contact details. Who sees them in full is
:attr:`api.auth.Principal.sees_contacts`.

A contact detail is found by its name and by its value, since producers name traits as they
like (``phone_number``, ``emailAddress``, ``contact.tel``) and ids may be addresses:

- by name: a trait whose last word (case and ``_ - .`` separators aside, ``e-mail`` being one
  word) is ``email``, ``mail``, ``phone``, ``mobile``, ``tel``, ``telephone``, ``cell``, ``fax``,
  ``msisdn`` or ``sms`` (or their plurals), or one of those followed by ``number``, ``address``
  or ``no``: its value is masked whatever it looks like;
- by value, in any string (a trait's at any depth, a key, an id): whatever looks like an email
  address (``local@domain.tld``) or a phone number: 7 to 15 digits with a leading ``+`` or
  phone punctuation (spaces, ``( ) . - /``). Digits alone (``5550001111``) are not masked by
  value: ids, order numbers and totals look just like that; a date (``2026-11-23``) or a
  decimal (``12345.67``) is not a phone number.

Masking keeps the shape (the email's domain, the phone number's ``+``, country digit,
separators and last digits) and hides the rest character for character, so a masked value still
lines up with what the customer reads out. The work is bounded: past :data:`MAX_DEPTH` levels,
:data:`MAX_VALUES` values, :data:`MAX_TEXT` characters in one string or :data:`MAX_CHARS` in
all, what is left is hidden (``[hidden: ...]``), never shown unmasked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from api.auth import Principal

# Nested objects deeper than this, values past this many, strings longer than this: hidden.
MAX_DEPTH = 16
MAX_VALUES = 5_000
MAX_TEXT = 10_000
# Characters searched in one pass over a profile: about half a second at worst.
MAX_CHARS = 500_000

_TOO_MANY = f"[hidden: more than {MAX_VALUES} values]"
_TOO_LONG = f"[hidden: more than {MAX_CHARS} characters in all]"
_MIN_PHONE_DIGITS = 5
_PHONE_DIGITS = range(7, 16)
_PHONE_SHAPE = re.compile(r"\+?[\d\s().\-/]+")

# The local part's usual characters: not "/" or "=", which join an address to a path or a key.
_EMAIL_LOCAL = frozenset("._%+-")
_MAX_LOCAL = 64
# Labels of up to 63 characters separated by dots: no label holds a dot, so matching is linear.
_EMAIL_DOMAIN = re.compile(r"[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
# A phone candidate: not inside a word or number, bounded in length (so linear), then checked.
_PHONE = re.compile(r"(?<![\w+.\-])\+?\(?\d[\d ().\-/]{5,24}\d(?![\w])")
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")
_DECIMAL = re.compile(r"\d+[.,]\d+")

_CONTACT_WORDS = frozenset(
    {"email", "mail", "phone", "mobile", "tel", "telephone", "cell", "cellphone", "fax"}
    | {"msisdn", "sms", "whatsapp"}
)
_CONTACT_WORDS_ALL = _CONTACT_WORDS | {f"{word}s" for word in _CONTACT_WORDS}
_ADDRESS_WORDS = frozenset({"number", "numbers", "address", "addresses", "addr", "no", "num", "nr"})
_EMAIL_WORDS = frozenset({"email", "emails", "mail", "mails"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def mask_email(address: str) -> str:
    """``ada@example.com`` → ``a**@example.com``: the first character and the domain stay."""
    local, at, domain = address.rpartition("@")
    if not at:
        return _hide(address, keep=1)
    return f"{_hide(local, keep=1)}@{domain}"


def mask_phone(number: str) -> str:
    """``+15550001111`` → ``+1******1111``: the ``+`` and country digit, then the last 4 digits
    (3 for 8 or 9 digits, 2 for fewer); separators stay where they were. A number of fewer than
    5 digits keeps none."""
    digits = sum(c.isdigit() for c in number)
    if digits < _MIN_PHONE_DIGITS:
        return "".join("*" if c.isdigit() else c for c in number)
    last = 4 if digits >= 10 else 3 if digits >= 8 else 2
    first = 1 if number.lstrip().startswith("+") else 0
    seen = 0
    shown = []
    for c in number:
        if c.isdigit():
            seen += 1
            shown.append(c if seen <= first or seen > digits - last else "*")
        else:
            shown.append(c)
    return "".join(shown)


def is_contact_name(name: str) -> bool:
    """``email``, ``phone_number``, ``emailAddress``, ``workEmail``, ``contact.tel``,
    ``billing.e-mail``, ``Mobile_Phone``: names of traits holding an address."""
    words = _words(name)
    if not words:
        return False
    if words[-1] in _CONTACT_WORDS_ALL:
        return True
    return len(words) >= 2 and words[-1] in _ADDRESS_WORDS and words[-2] in _CONTACT_WORDS_ALL


def _words(name: str) -> list[str]:
    words: list[str] = []
    for word in _WORD.findall(name[:200]):
        lowered = word.lower()
        if lowered == "mail" and words and words[-1] == "e":
            words[-1] = "email"
        else:
            words.append(lowered)
    return words


def contacts_in(text: str) -> Iterator[tuple[int, int, str]]:
    """Where ``text`` holds an email address or a phone number: (start, end, kind), in order.
    ``text`` past :data:`MAX_TEXT` characters is not searched (callers hide such text)."""
    text = text[:MAX_TEXT]
    found = sorted([*_emails_in(text), *_phones_in(text)])
    end = 0
    for start, stop, kind in found:
        if start >= end:  # a phone-like run inside an email found first is part of it
            yield start, stop, kind
            end = stop


def _emails_in(text: str) -> Iterator[tuple[int, int, str]]:
    at = text.find("@")
    while at != -1:
        start = at
        while start > 0 and at - start < _MAX_LOCAL and _is_local_char(text[start - 1]):
            start -= 1
        domain = _EMAIL_DOMAIN.match(text, at + 1) if start < at else None
        if domain is not None:
            yield start, domain.end(), "email"
            at = text.find("@", domain.end())
        else:
            at = text.find("@", at + 1)


def _is_local_char(c: str) -> bool:
    return c.isalnum() or c in _EMAIL_LOCAL


def _phones_in(text: str) -> Iterator[tuple[int, int, str]]:
    position = 0
    while (found := _PHONE.search(text, position)) is not None:
        if _is_phone_number(found.group()):
            yield found.start(), found.end(), "phone"
            position = found.end()
        else:
            position = found.start() + 1


def _is_phone_number(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    if digits not in _PHONE_DIGITS or _DATE.search(candidate):
        return False
    if candidate.startswith("+"):
        return True
    return not (candidate.isdigit() or _DECIMAL.fullmatch(candidate))


def looks_like_contact(text: str) -> bool:
    """Whether ``text`` holds an email address or phone number anywhere."""
    return next(contacts_in(text), None) is not None


def mask_contacts_in(text: str) -> str:
    """``text`` with every email address and phone number in it masked; too long a text (over
    :data:`MAX_TEXT` characters) is hidden whole, since it cannot be searched in bounded time."""
    if len(text) > MAX_TEXT:
        return f"[hidden: {len(text)} characters, too long to mask]"
    if "@" not in text and not any(c.isdigit() for c in text):
        return text
    shown: list[str] = []
    end = 0
    for start, stop, kind in contacts_in(text):
        found = text[start:stop]
        shown.append(text[end:start])
        shown.append(mask_email(found) if kind == "email" else mask_phone(found))
        end = stop
    shown.append(text[end:])
    return "".join(shown)


def shown_address(address: str | None, principal: Principal) -> str | None:
    """A delivery's recipient for ``principal``: in full if they see contacts, else masked by its
    shape (an email, a phone number). A URL (a webhook channel's endpoint) names no person and is
    shown as it is; anything else is masked but for its first character."""
    if address is None or principal.sees_contacts:
        return address
    if "://" in address:
        return address
    if "@" in address:
        return mask_email(address)
    if _is_phone(address):
        return mask_phone(address)
    return _hide(address, keep=1)


def shown_id(value: str, principal: Principal) -> str:
    """A customer id, alias, workflow id or key for ``principal``: the email addresses and
    phone numbers in it masked unless they see contacts (``journey/welcome/a**@example.com``)."""
    return value if principal.sees_contacts else mask_contacts_in(value)


def shown_traits(traits: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """``traits`` for ``principal``: unless they see contacts, a copy with every contact detail
    masked, by name or by value, at any depth (within :data:`MAX_DEPTH` and :data:`MAX_VALUES`)."""
    if principal.sees_contacts:
        return traits
    shown = _Masker().shown(traits, name=None, depth=0)
    assert isinstance(shown, dict)
    return shown


def shown_value(name: str, value: Any, principal: Principal) -> Any:
    """One named value (an audit row's field, an event property) as :func:`shown_traits`
    shows a trait of that name."""
    if principal.sees_contacts:
        return value
    return _Masker().shown(value, name=name, depth=0)


def contact_values(traits: dict[str, Any]) -> list[str]:
    """Every contact detail ``traits`` hold, by name or by value, as found in text (so that a
    sentence naming one can be masked too); bounded like :func:`shown_traits`."""
    masker = _Masker()
    masker.shown(traits, name=None, depth=0)
    return masker.found


@dataclass
class _Masker:
    """One masking pass: counts the values it visits so a huge profile costs a bounded time."""

    visited: int = 0
    searched: int = 0
    found: list[str] = field(default_factory=list)

    def shown(self, value: Any, *, name: str | None, depth: int) -> Any:
        self.visited += 1
        if self.visited > MAX_VALUES:
            return _TOO_MANY
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            return f"[hidden: nested deeper than {MAX_DEPTH}]"
        if isinstance(value, dict):
            shown: dict[str, Any] = {}
            for key, item in value.items():
                if self.visited >= MAX_VALUES:  # the rest, keys too, is not even looked at
                    shown["[hidden]"] = _TOO_MANY
                    break
                shown[self._key(str(key))] = self.shown(item, name=str(key), depth=depth + 1)
            return shown
        if isinstance(value, list):
            items = []
            for item in value:
                if self.visited >= MAX_VALUES:
                    items.append(_TOO_MANY)
                    break
                items.append(self.shown(item, name=name, depth=depth + 1))
            return items
        if value is None or isinstance(value, bool):
            return value
        if name is not None and is_contact_name(name) and isinstance(value, str | int | float):
            return self._by_name(name, str(value))
        if isinstance(value, str):
            return self._by_value(value)
        return value

    def _key(self, key: str) -> str:
        return self._by_value(key)

    def _within_budget(self, text: str) -> bool:
        self.searched += len(text)
        return self.searched <= MAX_CHARS

    def _by_name(self, name: str, text: str) -> str:
        if len(text) > MAX_TEXT:
            return f"[hidden: {len(text)} characters, too long to mask]"
        if not self._within_budget(text):
            return _TOO_LONG
        self.found.append(text)
        if "@" in text:
            return mask_email(text)
        if sum(c.isdigit() for c in text) >= _MIN_PHONE_DIGITS:
            return mask_phone(text)
        return mask_email(text) if _words(name)[-1] in _EMAIL_WORDS else mask_phone(text)

    def _by_value(self, text: str) -> str:
        if len(text) <= MAX_TEXT and not self._within_budget(text):
            return _TOO_LONG
        masked = mask_contacts_in(text)
        if masked != text and len(text) <= MAX_TEXT:
            self.found.extend(text[start:stop] for start, stop, _ in contacts_in(text))
        return masked


def _is_phone(text: str) -> bool:
    return bool(_PHONE_SHAPE.fullmatch(text.strip())) and (
        sum(c.isdigit() for c in text) >= _MIN_PHONE_DIGITS
    )


def _hide(text: str, *, keep: int) -> str:
    """``text`` with all but its first ``keep`` characters starred; all of it when that would
    leave fewer than two hidden."""
    if len(text) - keep < 2:
        return "*" * len(text)
    return text[:keep] + "*" * (len(text) - keep)
