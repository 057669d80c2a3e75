"""airpy.v1.AnalyzeService: Analyze (job) and UploadFrame (client stream)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from airpy.errors import NotImplementedYet
from airpy.rpc import Call
from airpy.services.app import App
from airpy.v1 import analyze_pb2, analyze_service_pb2


class AnalyzeService:
    def __init__(self, app: App) -> None:
        self._app = app

    async def Analyze(self, request: analyze_pb2.AnalyzeRequest, call: Call) -> analyze_service_pb2.AnalyzeResponse:
        raise NotImplementedYet("Analyze is not implemented yet (the analysis issue adds it)")

    async def UploadFrame(
        self, requests: AsyncIterator[analyze_service_pb2.UploadFrameRequest], call: Call
    ) -> analyze_service_pb2.UploadFrameResponse:
        raise NotImplementedYet("UploadFrame is not implemented yet (the analysis issue adds it)")
