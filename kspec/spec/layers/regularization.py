"""regularization layers (to be filled)."""

LAYERS: tuple = ()
