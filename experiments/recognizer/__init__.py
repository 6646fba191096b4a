"""The recognizer's life cycle: face datasets, training, evaluation, export, shipping, the noisy-label ablation and
the renderer's accuracy ceilings."""
