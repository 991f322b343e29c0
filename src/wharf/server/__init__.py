"""HTTP (ASGI), gRPC and metrics servers around a Component; worker processes; shutdown."""
