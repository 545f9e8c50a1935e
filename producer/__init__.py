"""The trade producer: synthetic trades for real NASDAQ companies, onto Kafka."""
