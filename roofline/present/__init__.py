"""roofline.present."""
