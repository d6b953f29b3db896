"""Quick, Draw! strokes: reading every published format, the memory-mapped stroke store, downloads."""
