"""Training: data loaders (`data`), the run directory's files (`artifacts`), and `build_and_train` (`run`).

TensorFlow and Keras are imported only when training starts, never by `import kspec`.
"""
