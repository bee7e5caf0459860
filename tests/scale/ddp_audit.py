"""Run ``genrelab`` with an audit of what this process writes and trains on (for the DDP test).

``GENRELAB_AUDIT_DIR=DIR python tests/scale/ddp_audit.py train ...``: like ``genrelab train ...``; Lightning's DDP
launcher re-runs this same command line (and environment) for ranks 1..N-1, so every rank is audited. At exit each process writes
``AUDIT_DIR/rank-<global rank>-<pid>.json``: the files it opened for writing or renamed into place (Python audit
hooks) and a fingerprint of every training example it was given.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import sys

AUDIT_DIR = os.environ["GENRELAB_AUDIT_DIR"]
WRITES: list[str] = []
SEEN: list[list] = []  # [epoch, fingerprint of one training example]


def _hook(event: str, args: tuple) -> None:
    if event == "open" and len(args) >= 2 and isinstance(args[0], (str, bytes, os.PathLike)):
        mode, flags = args[1], args[2] if len(args) > 2 else 0
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                  (mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR))
        if writing:
            WRITES.append(os.path.abspath(os.fsdecode(args[0])))
    elif event in ("os.rename", "os.replace") and len(args) >= 2:
        WRITES.append(os.path.abspath(os.fsdecode(args[1])))


def _rank() -> int:
    for var in ("RANK", "SLURM_PROCID"):
        if os.environ.get(var):
            return int(os.environ[var])
    return int(os.environ.get("NODE_RANK", 0)) * int(os.environ.get("GENRELAB_AUDIT_DEVICES", 1)) + \
        int(os.environ.get("LOCAL_RANK", 0))


def _dump() -> None:
    os.makedirs(AUDIT_DIR, exist_ok=True)
    path = os.path.join(AUDIT_DIR, f"rank-{_rank()}-{os.getpid()}.json")
    with open(path, "w") as f:
        json.dump({"rank": _rank(), "writes": sorted(set(WRITES)), "examples": SEEN}, f)


def _record_training_examples() -> None:
    from genrelab.training.module import GenreModule

    step = GenreModule.training_step

    def training_step(self, batch, batch_idx):
        for row in batch[0].detach().cpu().numpy():
            SEEN.append([int(self.current_epoch), hashlib.sha1(row.tobytes()).hexdigest()[:16]])
        return step(self, batch, batch_idx)

    GenreModule.training_step = training_step


if __name__ == "__main__":
    sys.addaudithook(_hook)
    atexit.register(_dump)
    _record_training_examples()
    from genrelab.cli import main

    main()
