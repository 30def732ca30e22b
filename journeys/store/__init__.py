"""The SQLAlchemy store: definitions, customers, runs, deliveries and the audit trail."""
