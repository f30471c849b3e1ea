"""Check that a training soundfont shares no sample with the held-out banks.

Held-out accuracy means something only if no recording of the held-out bank (FluidR3) was heard in
training. For every sample of each training bank this looks for its PCM in the held-out bank's
sample data, whole and as excerpts (autotune_keras/data/sf2.py). Prints, per training bank, how
many samples were found and which (a sample of under 256 samples or all zeros is not looked for).

    python tools/check_bank_overlap.py
    python tools/check_bank_overlap.py --banks /path/a.sf2 --held_out /usr/share/sounds/sf2/FluidR3_GM.sf2
"""

from __future__ import annotations

from pathlib import Path

import fire

from autotune_keras.data import gm
from autotune_keras.data.sf2 import read_samples, shared_samples


def main(banks: str | tuple[str, ...] = gm.DEFAULT_TRAINING_BANKS, held_out: str | tuple[str, ...] = gm.DEFAULT_HELD_OUT_BANKS) -> None:
    """Print, for each training bank, the samples also found in a held-out bank."""
    banks = [b.strip() for b in banks.split(",")] if isinstance(banks, str) else list(banks)
    held_out = [b.strip() for b in held_out.split(",")] if isinstance(held_out, str) else list(held_out)
    held_out_data = b"".join(read_samples(path)[0] for path in held_out)
    for bank in banks:
        found = shared_samples(bank, held_out_data)
        total = len(read_samples(bank)[1])
        listed = f": {', '.join(found[:20])}" if found else ""
        print(f"{Path(bank).name}: {len(found)} of {total} samples found in {' + '.join(Path(p).name for p in held_out)}{listed}")


if __name__ == "__main__":
    fire.Fire(main)
