"""One router per resource; :mod:`api.main` mounts them all."""
