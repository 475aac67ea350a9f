"""sketchpad: the document model of a small drawing app."""
