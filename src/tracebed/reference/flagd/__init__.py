"""flagd stand-in: flagd's gRPC and OFREP over the demo's flag file, and flagd-ui."""
