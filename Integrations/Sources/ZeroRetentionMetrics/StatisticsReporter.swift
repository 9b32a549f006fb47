// Placeholder: vault, pool and ledger statistics as swift-metrics gauges go here.
