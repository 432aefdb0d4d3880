"""tus 1.0.0 uploads of answer recordings (written by the uploads work)."""
