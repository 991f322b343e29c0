"""Chart tooling: the pinned helm binary, values schemas, manifest validation, ct-style lint and install."""
