"""pooling layers (to be filled)."""

LAYERS: tuple = ()
