"""Which channel and key serve a request: scheduling, circuit breaker, failover rules."""
