"""roofline.studies."""
