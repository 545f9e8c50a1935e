"""What tests and benchmarks both use to run the system: the pool and daphne as
subprocesses, scratch ClickHouse databases. Neither the product nor the web app imports it."""
