"""Shared plumbing of the reference stack's services: config, telemetry, flags, gRPC serving."""
