"""roofline.fit."""
