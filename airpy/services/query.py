"""airpy.v1.QueryService: Query (job) and ExplainQuery (sync)."""

from __future__ import annotations

from airpy.errors import NotImplementedYet
from airpy.rpc import Call
from airpy.services.app import App
from airpy.v1 import query_pb2, query_service_pb2


class QueryService:
    def __init__(self, app: App) -> None:
        self._app = app

    async def Query(self, request: query_pb2.QueryRequest, call: Call) -> query_service_pb2.QueryResponse:
        raise NotImplementedYet("Query is not implemented yet (the query issue adds it)")

    async def ExplainQuery(
        self, request: query_pb2.ExplainQueryRequest, call: Call
    ) -> query_pb2.ExplainQueryResponse:
        raise NotImplementedYet("ExplainQuery is not implemented yet (the query issue adds it)")
