"""Deep-RL teacher policies: training, evaluation against the baselines, shipping."""
