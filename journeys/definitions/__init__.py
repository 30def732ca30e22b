"""Declarative journeys: the document and what it is made of, pure (no I/O).

- ``document.py``: the definition document and its validation (step and field named);
- ``steps.py``: the steps a document is made of, and the field types they share with it;
- ``diff.py``: the diff between two versions of a definition;
- ``expressions.py``: conditions and values, as Jinja2 expressions; ``durations.py``: ``15m``;
- ``sandbox.py``: the one bounded Jinja2 sandbox of expressions and templates (docs/security.md).

Importable by workflow code: may import only ``journeys.contracts`` and itself.
"""
