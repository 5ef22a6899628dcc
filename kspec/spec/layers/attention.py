"""attention layers (to be filled)."""

LAYERS: tuple = ()
