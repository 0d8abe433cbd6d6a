"""Training: the experiments' tasks and the one loop that runs them."""

from official import experiments
from trainers.adversarial_autoencoder import AdversarialAutoencoderTask
from trainers.loop import Trainer
from trainers.loop import TrainingError
from trainers.preemption import Interrupted
from trainers.maximum_likelihood import MaximumLikelihoodTask
from trainers.optimal_transport import OptimalTransportTask

_TASKS = {
    experiments.AdversarialConfig: AdversarialAutoencoderTask,
    experiments.OptimalTransportConfig: OptimalTransportTask,
    experiments.MaximumLikelihoodConfig: MaximumLikelihoodTask,
}


def build_task(config):
  """The task that trains `config` (an `ExperimentConfig`)."""
  return _TASKS[type(config.task)](config)


__all__ = ['AdversarialAutoencoderTask', 'Interrupted',
           'MaximumLikelihoodTask',
           'OptimalTransportTask', 'Trainer', 'TrainingError', 'build_task']
