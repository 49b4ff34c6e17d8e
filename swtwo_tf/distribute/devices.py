"""One machine, several devices: a ``MirroredStrategy`` over GPUs, or over logical CPU devices
(chapter 11)."""

from __future__ import annotations

import functools


def split_cpu(devices: int = 2) -> list[str]:
    """Make this process's CPU appear to TensorFlow as ``devices`` logical devices; returns
    their names. Must run before TensorFlow first uses a device (the first cell of a
    chapter). The devices share the same cores: they show how replicas work, not a speed-up.
    """
    import tensorflow as tf

    if not isinstance(devices, int) or isinstance(devices, bool) or devices < 1:
        raise ValueError(f"devices must be an int >= 1, got {devices!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(devices)]
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:
        have = tf.config.list_logical_devices("CPU")
        if len(have) != devices:
            raise RuntimeError(
                f"TensorFlow has already set up {len(have)} CPU device(s), so it cannot make "
                f"{devices}: call split_cpu({devices}) before anything else uses TensorFlow "
                "(restart the kernel and run the setup cell first)") from None
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def local_strategy(devices: int = 2):
    """A ``MirroredStrategy`` over ``devices`` GPUs when the machine has them, else over
    ``devices`` logical CPU devices (:func:`split_cpu` must have made them).

    The same devices give the same strategy object each time: two strategies over the same
    devices number their collective operations alike, and TensorFlow would mix up one's
    all-reduce with the other's (a cell run twice must not break the next)."""
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if len(gpus) >= devices:
        return _mirrored(tuple(gpus[:devices]))
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(cpus) < devices:
        raise RuntimeError(f"{devices} devices wanted, but TensorFlow sees {len(gpus)} GPU(s) "
                           f"and {len(cpus)} CPU device(s): call distribute.split_cpu("
                           f"{devices}) first")
    return _mirrored(tuple(cpus[:devices]))


@functools.cache
def _mirrored(devices: tuple[str, ...]):
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(list(devices))
