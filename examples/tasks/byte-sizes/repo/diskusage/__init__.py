"""diskusage: report how much disk space folders take."""
