"""Building model images: the s2i protocol in Python (docker SDK), builder and base images."""
