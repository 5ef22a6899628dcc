"""normalization layers (to be filled)."""

LAYERS: tuple = ()
