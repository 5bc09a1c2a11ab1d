"""The imperative shell: kopf handlers, API reads and writes, the process context."""
