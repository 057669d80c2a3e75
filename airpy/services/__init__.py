"""gRPC entry points: one thin servicer module per service.

Each servicer decodes a request into domain values, calls plain functions and
encodes the reply; errors propagate as AirpyError to `airpy.rpc`.
"""
