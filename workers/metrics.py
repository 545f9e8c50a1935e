"""Prometheus metrics of the worker pool.

Workers are separate processes, so prometheus_client runs in multiprocess mode:
the supervisor points PROMETHEUS_MULTIPROC_DIR at a fresh directory before it
starts any worker, each process writes its samples there, and the supervisor's
HTTP endpoint aggregates them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("trademonitor_consumed_messages", "Messages consumed from Kafka", ["job"])
INSERTED = Counter("trademonitor_inserted_rows", "Rows inserted into ClickHouse", ["job"])
REJECTED = Counter("trademonitor_rejected_messages", "Messages rejected, and whether this job dead-lettered them",
                   ["job", "reason", "dead_lettered"])
BATCH_ROWS = Histogram("trademonitor_batch_rows", "Messages per flush", ["job"],
                       buckets=(1, 10, 100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000))
INSERT_SECONDS = Histogram("trademonitor_insert_seconds", "ClickHouse insert latency", ["job"],
                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
LAG = Gauge("trademonitor_consumer_lag", "Messages behind the high watermark", ["job", "topic", "partition"],
            multiprocess_mode="livemax")
FUTURE_DATED = Counter("trademonitor_future_dated_trades", "Trades stored whose timestamp was ahead of the "
                       "worker's clock by more than the allowed skew (a producer's clock runs fast)")
RESTARTS = Counter("trademonitor_worker_restarts", "Workers restarted by the supervisor", ["job"])
DELTAS_DROPPED = Counter("trademonitor_deltas_dropped", "Deltas not published to the dashboard", ["job"])

