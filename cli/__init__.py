"""The `candlecast` command: runs flows, serves deployments, reports; above every other layer."""
