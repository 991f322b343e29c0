"""Publishing Wharf: images and charts pushed to an OCI registry, pinned by digest."""
