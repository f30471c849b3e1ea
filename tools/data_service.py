"""Run a tf.data service dispatcher or worker, so the input pipeline (shard reading, augmentation,
batching) runs on other machines than the trainer.

    python tools/data_service.py dispatcher --port 5050                       # one, anywhere
    python tools/data_service.py worker --dispatcher HOST:5050 --port 5051    # one per spare machine
    python -m autotune_keras.train --config configs/pitch_detector.yaml --pipeline.data_service=grpc://HOST:5050

Workers read the shards by the paths the trainer names, so the record folders must be at the same
path on every worker (a shared file system or a bucket). Stop with Ctrl-C.
"""

from __future__ import annotations

import fire


def dispatcher(port: int = 5050) -> None:
    """Serve a dispatcher on ``port`` until interrupted."""
    import tensorflow as tf

    server = tf.data.experimental.service.DispatchServer(tf.data.experimental.service.DispatcherConfig(port=port))
    print(f"tf.data dispatcher at {server.target}: train with --pipeline.data_service={server.target}", flush=True)
    server.join()


def worker(dispatcher: str, port: int = 5051) -> None:
    """Serve a worker on ``port`` for the dispatcher at ``HOST:PORT`` until interrupted."""
    import tensorflow as tf

    address = dispatcher.split("://")[-1]
    server = tf.data.experimental.service.WorkerServer(tf.data.experimental.service.WorkerConfig(dispatcher_address=address, port=port))
    print(f"tf.data worker on port {port} for dispatcher {address}", flush=True)
    server.join()


if __name__ == "__main__":
    try:
        fire.Fire({"dispatcher": dispatcher, "worker": worker})
    except KeyboardInterrupt:
        pass
