"""Delivery: turning a send into a message and handing it to a provider.

- ``channels/``: the provider interface and the providers (smtp, twilio, webhook, console);
- ``rendering.py``: sandboxed template rendering; ``templates_catalog.py``: the stored templates;
  ``template_checks.py``: a template's checks before it is saved;
- ``compliance.py``: the rules a send obeys (consent, quiet hours, frequency caps), pure.

May import contracts, settings, definitions (the sandbox), ingest (tracking links) and the store;
never ``journeys.workflows`` or ``journeys.activities``.
"""
