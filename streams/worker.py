"""Running one Faust worker process for the routing stages."""

from __future__ import annotations

import logging

import faust

from streams.app import create_app
from streams.broker import die_with_parent
from streams.settings import Settings


def run_worker(settings: Settings, *, tied_to_parent: bool = False) -> None:
    if tied_to_parent:
        die_with_parent()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    # aiokafka and Faust build DEBUG records on the hot path when their loggers
    # inherit a low level; routing logs what matters itself.
    if settings.log_level.lower() != "debug":
        for name in ("aiokafka", "faust", "mode"):
            logging.getLogger(name).setLevel(logging.WARNING)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
