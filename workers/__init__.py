"""The long-running processes: Temporal worker, NATS router, and the embedded dev stack."""
