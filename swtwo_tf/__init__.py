"""swtwo_tf: the helper package behind the swtwo course notebooks.

Rooms, left to right; a module imports only rooms to its left (``tests/test_architecture.py``):
``config``, ``files``, ``tables`` -> ``datasets`` -> ``features`` -> ``layers`` -> ``models``
-> ``training`` -> ``evaluation``, ``plots`` -> ``deploy`` -> ``course`` -> ``cli``.
"""

__version__ = "0.1.0"
