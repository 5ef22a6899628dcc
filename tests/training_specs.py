"""Small specs shared by the training tests (tests/test_train.py, tests/test_cli_train.py)."""

#: a 67-parameter classifier on 64 synthetic examples: train, validation and test splits, 3 epochs
TINY = """\
kspec: 1
name: tiny
model:
  input: {shape: [4]}
  layers:
    - {type: Dense, units: 8, activation: relu}
    - {type: Dense, name: probs, units: 3, activation: softmax}
training:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  epochs: 3
  batch_size: 16
  validation_split: 0.25
data:
  source: {type: synthetic, samples: 64}
  test_split: 0.25
"""
