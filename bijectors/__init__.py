"""TFP bijectors for invertible autoencoders (NHWC images, float32/float64)."""

from bijectors._keras_tracking import collect_keras_layers
from bijectors.additive_coupling import AdditiveCoupling
from bijectors.affine_coupling import AffineCoupling
from bijectors.checkerboard_subsample import CheckerboardSubsample
from bijectors.factor_out import FactorOut
from bijectors.householder import Householder
from bijectors.split import Split

__all__ = ['AdditiveCoupling', 'AffineCoupling', 'CheckerboardSubsample',
           'FactorOut', 'Householder', 'Split', 'collect_keras_layers']
