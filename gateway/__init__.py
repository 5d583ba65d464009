"""The ingest gateway: channel webhooks over HTTP in, acknowledged Kafka records out."""
