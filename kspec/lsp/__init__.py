"""The language server (`kspec lsp`): the checker in the editor. `analysis` (a checked document and where each path
of the spec is in it), `names` (definitions and references), `features` and `completion` (what the editor shows)
need no pygls; `server` wires them to the protocol. Nothing here imports Keras or TensorFlow."""
