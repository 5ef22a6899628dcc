"""reshaping layers (to be filled)."""

LAYERS: tuple = ()
