"""recurrent layers (to be filled)."""

LAYERS: tuple = ()
