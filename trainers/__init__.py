"""Training: the experiments' tasks and the one loop that runs them.

A recipe is one module here: its task config section, its task class
(`@configs.register_task`) and its presets (`@configs.register_experiment`).
Every module of the package is imported below, so a new one registers itself.
"""

from official import configs
from official import registry
from trainers.loop import Trainer
from trainers.loop import TrainingError
from trainers.preemption import Interrupted

registry.import_submodules(__name__, __path__)

# pylint: disable=g-import-not-at-top,wrong-import-position
from trainers.adversarial_autoencoder import AdversarialAutoencoderTask
from trainers.maximum_likelihood import MaximumLikelihoodTask
from trainers.optimal_transport import OptimalTransportTask


def build_task(experiment):
  """The task that trains `experiment` (an `ExperimentConfig`)."""
  return configs.TASKS.get(type(experiment.task))(experiment)


__all__ = ['AdversarialAutoencoderTask', 'Interrupted',
           'MaximumLikelihoodTask',
           'OptimalTransportTask', 'Trainer', 'TrainingError', 'build_task']
