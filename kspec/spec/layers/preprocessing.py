"""preprocessing layers (to be filled)."""

LAYERS: tuple = ()
