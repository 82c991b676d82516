"""frontend: the demo's Next.js HTTP API (``/api/*``) over the gRPC backends."""
