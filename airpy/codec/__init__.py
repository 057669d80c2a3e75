"""The wire codec: airpy.v1 messages <-> plain domain values, one module per proto area.

`airpy.services` (gRPC) and `airpy.tasks` (RQ workers) both sit on top of it: they decode a
request into typed domain values here, call plain domain functions, and encode the results
here. Proto types stop at this layer: the domain (`data`, `query`, `analyze`) never sees them.

    common   values, schemas, timestamps, JSON rows, reader options, the byte-capping helper
    jobs     job records, steps and events, errors, frames, FetchResult messages
    data     Discover, InferSchema and Preview requests and results
    query    plans, query results, ExplainQuery
    analyze  Analyze requests (checked against the frame's columns) and results, uploads
    info     GetServerInfo
"""
