"""V1 layer-5 rate model with CS/CC/PV/SST populations and plasticity (circuits.md part B).

Modules: :mod:`connectivity` (type weights, fixed in-degree matrix, normalisation, block
statistics), :mod:`stimulus` (grating input per neuron), :mod:`dynamics` (rectified rate
equation, Euler/RK4), :mod:`plasticity` (BCM, sliding-threshold BCM, Oja variant, covariance;
masks and phase patterns), :mod:`simulate` (seeded simulations, all directions at once, binned
rates and block-averaged weights). numpy only; analysis lives in ``rnnlab.analysis.v1_*``.
"""

from rnnlab.circuits.v1.connectivity import POPULATIONS

__all__ = ["POPULATIONS"]
