"""Model-side code: recognizers, training, export, inference backends and the HMM (no SimPy here)."""
