"""A student's numpy.py beside their module: must not shadow NumPy."""

raise ImportError("the student's numpy.py was imported instead of NumPy")
