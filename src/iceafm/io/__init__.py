"""File formats and safe writing: atomic outputs, experimental image formats."""
