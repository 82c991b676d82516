"""frontend-proxy: Envoy configured as the demo's proxy."""
