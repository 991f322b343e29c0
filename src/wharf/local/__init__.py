"""Running models and graphs on one machine, with no cluster."""
