"""roofline.core."""
