"""The daemon's application object: the engine's services and the route table."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dockyard.api import containers, execs, images, networks, system, volumes
from dockyard.api.http import Reply, Request
from dockyard.api.routes import Router, dispatch
from dockyard.engine.containers import Engine
from dockyard.engine.events import EventBus
from dockyard.engine.execs import Execs

T = TypeVar("T")


@dataclass
class App:
    engine: Engine
    events: EventBus
    execs: Execs
    image_store: Any  # dockyard.store.images.ImageStore, or None before it exists
    data_root: Path
    exec_root: Path
    runtime: str
    started: float = field(default_factory=time.time)
    router: Router = field(default_factory=Router)

    def __post_init__(self) -> None:
        for register in (
            system.register,
            containers.register,
            execs.register,
            images.register,
            volumes.register,
            networks.register,
        ):
            register(self.router)

    async def handle(self, req: Request) -> Reply:
        return await dispatch(self, self.router, req)

    @staticmethod
    async def run(fn: Any, *args: Any, **kw: Any) -> Any:
        """Run a blocking engine call in a worker thread."""
        return await asyncio.to_thread(fn, *args, **kw)
