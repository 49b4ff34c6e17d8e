"""swtwo_tf: the helper package behind the swtwo course notebooks.

Rooms, left to right (no module imports one to its right):
``config`` -> ``datasets`` -> ``training`` -> ``evaluation`` / ``plots`` -> ``cli``.
"""

__version__ = "0.1.0"


def check_environment() -> None:
    """Print versions, CPU/GPU, quick/full mode and the datasets table (chapter 00's setup)."""
    from swtwo_tf.cli import environment_report

    print(environment_report())
