"""A student's random.py beside their module: must not shadow the standard library's."""

raise ImportError("the student's random.py was imported instead of the standard library's")
