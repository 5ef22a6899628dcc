"""activation layers (to be filled)."""

LAYERS: tuple = ()
