"""Benchmarks of the operator on a private local kwok cluster (see bench/README.md)."""

#: The operator phases of a run, in order.
PHASES = ("create", "idle", "restart", "terminate", "start", "delete")
#: How admission webhooks are set up (see jcbench.webhooks).
WEBHOOK_MODES = ("installed", "managed", "off")
