"""A callback for the kill-and-resume test: records which patches each epoch's first batches hold.

The mask sum of a batch does not change under flips, rotations or colour augmentation, so it identifies
the patches drawn, whatever augmentation did to them. With ``WSISEG_TEST_PAUSE`` set, training pauses
mid-epoch 1 so the test can kill it there.
"""

import json
import os
import time
from pathlib import Path

import pytorch_lightning as pl


class BatchRecorder(pl.Callback):
    def __init__(self, path: str, batches: int = 4) -> None:
        self.path, self.batches = Path(path), batches

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx < self.batches:
            line = {"epoch": trainer.current_epoch, "batch": batch_idx, "mask_sum": float(batch["mask"].sum())}
            with self.path.open("a") as fh:
                fh.write(json.dumps(line) + "\n")
        if os.environ.get("WSISEG_TEST_PAUSE") and trainer.current_epoch == 1 and batch_idx == self.batches:
            time.sleep(60)  # killed here by the test
