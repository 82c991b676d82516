"""Infrastructure of the reference stack as real processes: collector (rotel), Kafka (Tansu),
valkey-cart (redis-server), image-provider (nginx), Prometheus — config rendering and wrappers."""
