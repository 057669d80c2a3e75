"""What both entry points hand the domain, built once per process: the job system (`Core`),
the base path of the datasets and the engine's limits.

The server (`airpy.services`) and the workers (`airpy.tasks`) build it the same way, from the
same settings, so a request is checked at the call and run in the worker against the same
base path, limits and frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from airpy import engine
from airpy.config import Settings
from airpy.data.objects import Base, open_base
from airpy.engine import EngineLimits
from airpy.jobs.core import Core, build_core
from airpy.jobs.frames import frame_file
from airpy.query.execute import FramePath


@dataclass(frozen=True)
class Runtime:
    core: Core
    base: Base
    limits: EngineLimits

    @property
    def settings(self) -> Settings:
        return self.core.settings

    def frames_of(self, subject: str) -> FramePath:
        """Where the caller's earlier frames are, for plans and analyses that read them (the owner
        check is made for every one)."""
        records, results = self.core.lifecycle.records, self.core.results

        def locate(token: int, frame: str) -> str:
            return frame_file(records, results, token, frame, subject)

        return locate


def runtime_of(core: Core) -> Runtime:
    """The runtime around a job system (a worker's, built by `airpy.jobs.worker`)."""
    settings = core.settings
    return Runtime(core, open_base(settings.base_path, settings.allowed_ext), engine.limits_of(settings))


def build_runtime(settings: Settings, *, token_mark: Path | None = None) -> Runtime:
    """The server's runtime: it issues tokens (embedded mode: with the high-water mark file)."""
    return runtime_of(build_core(settings, tokens=True, token_mark=token_mark))
