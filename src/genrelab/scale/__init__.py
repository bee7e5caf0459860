"""Scale-out engines: the batch jobs (``classify``, ``features extract``) on a Ray cluster.

Ray is optional (``pip install 'genrelab[scale]'``); nothing here is imported unless ``--engine ray`` is asked
for. Training scales with PyTorch Lightning's DDP instead (``genrelab train --strategy ddp``; see
docs/scaling.md).
"""

from __future__ import annotations

from genrelab.types import GenrelabError

ENGINES = ("local", "ray")


def require_ray():
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise GenrelabError(f"--engine ray needs Ray Data: pip install 'genrelab[scale]' ({exc})") from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None):
    """Join the Ray cluster at ``address`` (``auto``: the running cluster; ``ray://HOST:PORT``: Ray Client),
    or start a local instance when ``address`` is None. Reuses a connection that is already open."""
    ray = require_ray()
    if not ray.is_initialized():
        opts = dict(logging_level="ERROR", log_to_driver=False, include_dashboard=False,
                    configure_logging=True)
        if address:
            ray.init(address=address, **{k: v for k, v in opts.items() if k != "include_dashboard"})
        else:
            ray.init(num_cpus=num_cpus, **opts)
    import logging

    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the CLI draws one progress bar over the whole job
    ctx.max_errored_blocks = -1       # a crashed worker loses its rows, which come back as failures
    return ray


def cluster_gpus() -> int:
    """How many GPUs the connected cluster has."""
    import ray

    return int(ray.cluster_resources().get("GPU", 0))


def cluster_cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


__all__ = ["ENGINES", "require_ray", "connect", "cluster_gpus", "cluster_cpus"]
