"""embedding layers (to be filled)."""

LAYERS: tuple = ()
