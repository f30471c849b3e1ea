"""Compare two built datasets example by example (e.g. one builder against another, same settings).

    python tools/compare_datasets.py tf_records/a tf_records/b

Prints whether the fingerprints, split sizes and the split of every source agree, how many
examples each holds, which non-audio features differ, and the largest difference of the 16-bit
audio tracks in LSB.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fire  # noqa: E402
import numpy as np  # noqa: E402

AUDIO = ("audio", "target_audio", "grid_audio")


def _examples(folder: Path) -> dict[tuple[str, int], dict]:
    import tensorflow as tf

    out = {}
    for shard in sorted(folder.glob("*.tfrecord")):
        for index, raw in enumerate(tf.data.TFRecordDataset(str(shard))):
            example = tf.train.Example.FromString(raw.numpy())
            out[(shard.name, index)] = {
                key: list(value.bytes_list.value or value.float_list.value or value.int64_list.value)
                for key, value in example.features.feature.items()
            }
    return out


def main(first: str, second: str) -> None:
    """Print how two dataset folders differ."""
    a, b = Path(first), Path(second)
    ma, mb = (json.loads((folder / "manifest.json").read_text()) for folder in (a, b))
    print(f"fingerprint equal: {ma['fingerprint'] == mb['fingerprint']}")
    for split in ma["splits"]:
        print(f"{split:>10}: {ma['splits'][split]['examples']} / {mb['splits'][split]['examples']} examples")
    same_split = [(s["name"], s["split"]) for s in ma["sources"]] == [(s["name"], s["split"]) for s in mb["sources"]]
    print(f"every source in the same split: {same_split}")
    ea, eb = _examples(a), _examples(b)
    print(f"examples: {len(ea)} / {len(eb)}, same shard positions: {ea.keys() == eb.keys()}")
    worst, differing, features = 0, 0, set()
    for key in ea.keys() & eb.keys():
        for name, value in ea[key].items():
            other = eb[key].get(name)
            if name in AUDIO and value and other:
                x, y = (np.frombuffer(v[0], np.int16).astype(np.int64) for v in (value, other))
                if len(x) != len(y):
                    features.add(name + " (length)")
                    continue
                worst = max(worst, int(np.abs(x - y).max(initial=0)))
                differing += int((x != y).sum())
            elif value != other:
                features.add(name)
    print(f"non-audio features that differ: {sorted(features) or 'none'}")
    print(f"audio tracks: largest difference {worst} LSB of 16-bit ({20 * np.log10(max(worst, 1e-9) / 32768):.0f} dBFS), "
          f"{differing} samples differ")  # fmt: skip


if __name__ == "__main__":
    fire.Fire(main)
