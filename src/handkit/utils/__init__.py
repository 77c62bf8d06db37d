"""Small helpers shared by every layer (input checks, atomic writes)."""
