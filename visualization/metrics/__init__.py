r"""Metrics for explanations, for any method and either framework (no framework import here).

=====================================  ==================================================================  ===========
function                               what it measures                                                    better
=====================================  ==================================================================  ===========
``deletion_curve``                     AUC of the class probability as top-ranked pixels are removed        lower
                                       (Petsiuk et al., RISE, BMVC 2018)
``insertion_curve``                    AUC as top-ranked pixels are inserted into a blurred canvas          higher
``average_drop_increase``              confidence kept by the image times the map (Grad-CAM++, 2018)        lower drop,
                                                                                                            higher increase
``road``                               MoRF / LeRF scores after noisy linear imputation of removed pixels   low MoRF,
                                       (Rong et al., ICML 2022)                                             high LeRF
``pointing_game``                      the map's maximum falls on the object, within a tolerance            higher
                                       (Zhang et al., IJCV 2018)
``energy_pointing_game``               share of the map's energy inside the object (Score-CAM, 2020)        higher
``model_parameter_randomization``      similarity of the maps after cascading weight randomization          lower
                                       (Adebayo et al., NeurIPS 2018)
``data_randomization_test``            similarity to the maps of a model trained on random labels           lower
``gini_index``                         sparseness of the map (Chalasani et al., ICML 2020)                  higher
``entropy_complexity``                 entropy of the map's contributions (Bhatt et al., IJCAI 2020)         lower
=====================================  ==================================================================  ===========

The functions that run a model are bound to a framework in ``visualization.pytorch.metrics`` and
``visualization.paddle.metrics`` (same names, signatures and numbers); the model-free ones
(localization, complexity, map comparisons, the imputation) are exported here as well. The modules:

* :mod:`~visualization.metrics.faithfulness`: deletion / insertion curves, average drop / increase;
* :mod:`~visualization.metrics.road`: ROAD and its noisy linear imputation (needs SciPy);
* :mod:`~visualization.metrics.localization`: pointing games against boxes or masks;
* :mod:`~visualization.metrics.sanity`: randomization tests, Spearman correlation, SSIM (needs scikit-image);
* :mod:`~visualization.metrics.complexity`: Gini index and entropy;
* :mod:`~visualization.metrics.explanations`: what counts as an explanation, and re-binding explainers;
* :mod:`~visualization.metrics.backend`: what a framework adapter provides, and how weights are redrawn.

Example:
    >>> import numpy as np
    >>> from visualization.metrics import gini_index, pointing_game
    >>> m = np.zeros((1, 8, 8)); m[0, 3, 4] = 1.0
    >>> pointing_game(m, [(3, 2, 6, 5)], tolerance=0).accuracy, round(float(gini_index(m)[0]), 4)
    (1.0, 0.9844)
"""

from __future__ import annotations

from .complexity import entropy_complexity, gini_index
from .faithfulness import CurveResult, DropResult
from .localization import PointingResult, energy_pointing_game, pointing_game
from .road import RoadResult, noisy_linear_imputation
from .sanity import MapComparison, RandomizationResult, compare_maps, spearman_rank_correlation, structural_similarity

__all__ = [
    "CurveResult",
    "DropResult",
    "MapComparison",
    "PointingResult",
    "RandomizationResult",
    "RoadResult",
    "compare_maps",
    "energy_pointing_game",
    "entropy_complexity",
    "gini_index",
    "noisy_linear_imputation",
    "pointing_game",
    "spearman_rank_correlation",
    "structural_similarity",
]
