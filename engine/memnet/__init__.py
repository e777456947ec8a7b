"""MemNet, the slot-memory family of seed 002 (see docs/memnet.md)."""
