"""The grid side: OpenADR 3 parsing, limit schedule, reservations (pure) and a thin async client."""
