"""conv layers (to be filled)."""

LAYERS: tuple = ()
