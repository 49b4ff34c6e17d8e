"""The same training on several devices or several workers with ``tf.distribute`` (chapter 11).

Data parallelism: every replica holds a whole copy of the model and takes its slice of each
global batch (:func:`distribute_dataset`). Each computes the gradient of its slice's share of
the *global* mean loss (:func:`replica_step`); the replicas add those gradients together (an
all-reduce) and apply the same update, so every copy stays equal and the step is the step one
device would take on the whole batch.

- On one machine, :func:`local_strategy` is a ``MirroredStrategy`` over the GPUs, or over
  logical CPU devices made by :func:`split_cpu` when there are fewer than two GPUs. Keras's
  ``model.fit`` runs under it unchanged.
- Across processes, ``MultiWorkerMirroredStrategy`` reads the cluster from ``TF_CONFIG``.
  Keras 3's ``model.fit`` fails under it in the kit's Keras version (keras-team/keras#20585:
  its first batch is reduced with a call that this strategy refuses eagerly), so the workers
  run :class:`Trainer`, the loop ``fit`` would run, with the all-reduce in plain sight. Its
  backups do what tf.keras's ``BackupAndRestore`` did for several workers: every worker saves
  at each epoch's end (saving is a collective step), the chief into the run folder and the
  others into temporary folders; a restarted job restores the chief's backup, replays the
  finished epochs' data order and goes on with the next epoch as if never stopped.
- :func:`launch` starts N worker processes on 127.0.0.1, each configured by ``TF_CONFIG`` on
  free ports, with a log each; restarts the whole job from its backup when a worker dies; and
  leaves no process behind on success, failure or Ctrl-C (``swtwo train --workers N``).
  :func:`run_worker` is what each process runs (``python -m swtwo_tf.distribute``).
- :func:`kubernetes_manifest` is the same job for a real cluster (an Indexed Job).

Its modules: ``devices`` (one machine), ``cluster`` (addresses, ``TF_CONFIG``, Kubernetes),
``loop`` (the data cut, the step, the Trainer), ``worker`` (one worker's training, backup and
resume) and ``launcher`` (the processes of a job). Everything a chapter uses is importable
from ``swtwo_tf.distribute``.
"""

from swtwo_tf.distribute.cluster import (
    HOSTS_ENV,
    INDEX_ENV,
    PortBusy,
    check_ports,
    free_ports,
    kubernetes_manifest,
    tf_config,
    tf_config_from_env,
)
from swtwo_tf.distribute.devices import local_strategy, split_cpu
from swtwo_tf.distribute.launcher import WorkerFailed, launch, workers_alive
from swtwo_tf.distribute.loop import (
    Trainer,
    all_reduce_ms,
    distribute_dataset,
    replica_slices,
    replica_step,
    ring_all_reduce,
)
from swtwo_tf.distribute.worker import CHIEF, QUICK_STEPS, run_worker, train

__all__ = ["CHIEF", "HOSTS_ENV", "INDEX_ENV", "QUICK_STEPS", "PortBusy", "Trainer",
           "WorkerFailed", "all_reduce_ms", "check_ports", "distribute_dataset", "free_ports",
           "kubernetes_manifest", "launch", "local_strategy", "replica_slices", "replica_step",
           "ring_all_reduce", "run_worker", "split_cpu", "tf_config", "tf_config_from_env",
           "train", "workers_alive"]
