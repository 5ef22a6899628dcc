"""One process of tests/test_distributed.py: trains a spec through kspec's own `build_and_train` and leaves
what the test compares in OUT: the trained weights, the history, and the examples of one epoch that this
process fed to the model (as digests of their rows).

    python tests/distributed_worker.py SPEC OUT RUN_DIR DISTRIBUTION [COORDINATOR NUM_PROCESSES PROCESS_ID]
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EPOCHS = 2
SEED = 11


def main(argv: list[str]) -> None:
    spec_path, out, run_dir, distribution = argv[:4]
    out_dir = Path(out)
    cluster_args = argv[4:]
    from kspec.train.run import TrainOptions, build_and_train
    from kspec.train.runtime import Cluster

    cluster = Cluster(cluster_args[0], int(cluster_args[1]), int(cluster_args[2]), timeout_s=90) if cluster_args else None
    opts = TrainOptions(output=run_dir, seed=SEED, epochs=EPOCHS, distribution=distribution, backend="jax",
                        cluster=cluster, verbose=0)
    result = build_and_train(spec_path, opts, echo=lambda message: None)
    me = result.runtime.process_index
    import numpy as np

    np.savez(out_dir / f"weights-{me}.npz", *[np.asarray(w) for w in result.model.get_weights()])
    (out_dir / f"history-{me}.json").write_text(json.dumps(result.history))
    (out_dir / f"shard-{me}.json").write_text(json.dumps(_epoch_examples(result)))
    (out_dir / f"result-{me}.json").write_text(json.dumps({
        "run_dir": None if result.run_dir is None else str(result.run_dir),
        "replicas": result.runtime.replicas, "processes": result.runtime.process_count,
    }))


def _epoch_examples(result) -> dict[str, list[str]]:
    """Digests of the examples of one epoch: `global`, the whole pipeline `build_and_train` builds for
    multi-worker training, and `mine`, what this process feeds of it through the distribution's own
    sharding (what `fit` does with it)."""
    import keras
    import numpy as np

    from kspec.infer import infer
    from kspec.train.data import load_data, make_tf_dataset

    spec = result.spec
    loaded = load_data(spec, infer(spec), base_dir=Path("."), seed=spec.training.seed)
    batch = spec.training.batch_size
    steps = len(loaded.train) // batch

    def pipeline():  # a new one each time: iterating a pipeline again reshuffles it (the next epoch)
        return make_tf_dataset(loaded.train, batch_size=batch, shuffle=True, seed=spec.training.seed,
                               single_output_name=None, drop_remainder=True, repeat=True)

    def digests(ds) -> list[str]:
        return [hashlib.sha1(row.tobytes()).hexdigest()[:16] for x, _ in ds.take(steps) for row in np.asarray(x)]

    distribution = keras.distribution.distribution()
    if getattr(loaded.train, "streamed", False) and result.runtime.process_count > 1:
        # a streamed source: each process reads its own share of the files (what the session builds for fit)
        runtime = result.runtime
        mine = loaded.train.dataset(batch_size=batch // runtime.process_count, shuffle=True, seed=spec.training.seed,
                                    drop_remainder=True, repeat=True,
                                    shard=(runtime.process_count, runtime.process_index))
    else:
        mine = distribution.distribute_dataset(pipeline()) if distribution is not None else pipeline()
    return {"global": digests(pipeline()), "mine": digests(mine)}


if __name__ == "__main__":
    main(sys.argv[1:])
