"""The pure core: facts in, decisions out. No I/O, no clock reads, no kopf."""
