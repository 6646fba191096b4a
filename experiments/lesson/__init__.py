"""One lesson: the run config, running a lesson, its files, plots and report (``vclass run``, ``vclass fit-hmm``)."""
