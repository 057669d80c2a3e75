"""The job system: tokens, records, events, queueing, workers and the reaper.

It knows nothing of discover, query or analyze: a job is a kind, a request
(opaque bytes) and a handler the entry points (`airpy.tasks`) supply.
"""
