"""The SimPy virtual classroom: students, emotions, attention, faces, lessons and their measures (no torch)."""
