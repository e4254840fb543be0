"""Domain models: frozen pydantic value objects shared by every layer."""
