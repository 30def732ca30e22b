"""Contact details as the API shows them, shared by every route and page that shows a customer.

``masking`` holds the rules (what is a contact detail, masked how, for which roles), ``redaction``
applies them to a customer's ids, traits, sentences and messages, ``customer_refs`` names a customer
whose id is masked by an opaque ``cref_...`` reference. May import :mod:`api.auth` (the principal),
:mod:`api.params` and the journeys library; no resource's package (they import this one).
"""
