"""The Arrow Flight data plane, beside the airpy.v1 API: frames fetched (DoGet) and uploaded
(DoPut) by any Flight client, with the same authentication, owner rules and error tree.

    server    the Flight service: GetFlightInfo, GetSchema, ListFlights, DoGet, DoPut, DoAction
    tickets   FrameTicket <-> bytes, descriptors, and the parts of a frame
    streams   a frame (or one part of it) as a record batch reader, with no per-batch Python
    calls     the middleware every call passes: request id, authentication, access log, metrics, trace
    errors    AirpyError -> Flight exception, with the rich status in the error's details
    process   `airpy flight`: the Flight server as its own process (why: docs/flight.md)
"""
