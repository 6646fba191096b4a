"""The workbench (``vclass app``): a local web app where a designer sets up a class, writes rule strategies, watches a
lesson and compares strategies over seeds. :mod:`~vclass.experiments.app.choices`, :mod:`~vclass.experiments.app.live`
and :mod:`~vclass.experiments.app.compare` turn the page's choices into the project's own configs, lessons and sweeps
(no UI there); :mod:`~vclass.experiments.app.page` is the page and :mod:`~vclass.experiments.app.workbench` the
command."""
