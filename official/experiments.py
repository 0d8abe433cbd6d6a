"""The experiments: every registered recipe, by name.

Importing this module imports every task module of `trainers/`, which
register their task classes and presets (`official.configs`); then
`get_experiment(name)` returns the `ExperimentConfig` of any of them. The
config mechanism (`override`, `resolve`, JSON) is `official.configs`'s, and
is reachable from here too.

The papers' presets (`pie_mnist`, `revnet_ot_mnist`, `revnet_aae_celeba64`)
fix their model; `pie`, `revnet_ot` and `revnet_aae` build it for the data's
shape (`PieConfig.for_data`, `RevNetConfig.for_data`).
"""

# pylint: disable=unused-import,wildcard-import
import trainers  # registers the tasks and their presets
from official.configs import *
from official.configs import __all__ as _config_names
from trainers.adversarial_autoencoder import AdversarialConfig
from trainers.maximum_likelihood import MaximumLikelihoodConfig
from trainers.optimal_transport import OptimalTransportConfig

__all__ = list(_config_names) + ['AdversarialConfig',
                                 'MaximumLikelihoodConfig',
                                 'OptimalTransportConfig']
