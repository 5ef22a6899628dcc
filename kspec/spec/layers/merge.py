"""merge layers (to be filled)."""

LAYERS: tuple = ()
