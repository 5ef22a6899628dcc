"""(being written)"""

LAYERS: tuple = ()
