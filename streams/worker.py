"""Running one Faust worker process for the routing stages."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import faust

from streams.admin import wait_for_broker
from streams.app import create_app
from streams.logs import setup_logging
from streams.settings import Settings

log = logging.getLogger("deskroute.worker")

#: Present while a worker runs on a local (RocksDB) table store; removed on a clean exit.
RUNNING_FLAG = "deskroute-running"


def claim_local_state(tabledir: Path) -> bool:
    """Drop a local table store that a crashed worker left behind; True if it did.

    A RocksDB store writes each row as the stage sets it, so a worker killed in
    the middle of an event leaves that event half-applied on disk, with rows the
    changelog may never have received. The changelog is the truth (recovery
    applies whole events only), so after an unclean exit the local copy is
    thrown away and rebuilt from it; after a clean one it is kept, which is
    what makes restarts fast.
    """
    flag = tabledir / RUNNING_FLAG
    dropped = flag.exists()
    if dropped:
        shutil.rmtree(tabledir)
        log.warning(
            "dropped local table store after an unclean exit", extra={"path": str(tabledir)}
        )
    tabledir.mkdir(parents=True, exist_ok=True)
    flag.touch()
    return dropped


def run_worker(settings: Settings, *, tied_to_parent: bool = False) -> None:
    if tied_to_parent:
        # Imported here: the embedded broker's package is not in the production image.
        from streams.broker import die_with_parent

        die_with_parent()
    setup_logging(settings.log_level)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    # Faust gives up (and the process exits) if its first connection fails; a worker
    # started while the brokers are unreachable waits for them instead.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(wait_for_broker(settings, timeout=None))
    finally:
        loop.close()
    app = create_app(settings)
    local = not settings.store.startswith("memory:")
    tabledir = Path(app.conf.tabledir)
    if local:
        claim_local_state(tabledir)
    worker = faust.Worker(
        app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False, override_logging=False
    )
    # Faust's terminal spinner writes escape codes to stdout; the logs are JSON lines.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if local and exc.code in (0, None):
            (tabledir / RUNNING_FLAG).unlink(missing_ok=True)
        raise
