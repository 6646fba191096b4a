"""vclass: a virtual online classroom testbed.

The package's parts, one subpackage each (imports flow down this list, never up):

* ``vclass.cli`` - the ``vclass`` command;
* ``vclass.experiments`` - orchestration: lessons, recognizer and policy pipelines, sweeps, benchmarks;
* ``vclass.agents`` - policies: the ECEM rule, baselines, deep-RL teachers;
* ``vclass.env`` - the Gymnasium environments and recognition in the loop (joins sim and models);
* ``vclass.models`` - recognizers, training, export, inference backends, the HMM (no SimPy);
* ``vclass.sim`` - the SimPy classroom, its students, faces and measures (no torch);
* ``vclass.config``, ``vclass.io`` - the shared core: validated configs, run folders.

Importing ``vclass`` registers the Gymnasium ids ``vclass/Motivation-v0`` and ``vclass/Attention-v0`` by
their string entry points, so nothing heavy loads until an environment is made; each id's ``vector_entry_point`` is
its batched environment (``gymnasium.make_vec(id, num_envs=B)``: B lessons in one numpy tick, ``vclass.env.vector``).
"""

import gymnasium as _gym

__version__ = "0.1.0"

ENV_IDS = {
    "vclass/Motivation-v0": "vclass.env.motivation:MotivationEnv",
    "vclass/Attention-v0": "vclass.env.attention:AttentionEnv",
}
VECTOR_ENTRY_POINTS = {
    "vclass/Motivation-v0": "vclass.env.vector:MotivationVectorEnv",
    "vclass/Attention-v0": "vclass.env.vector:AttentionVectorEnv",
}

for _id, _entry in ENV_IDS.items():
    if _id not in _gym.registry:
        _gym.register(
            id=_id, entry_point=_entry, vector_entry_point=VECTOR_ENTRY_POINTS[_id], disable_env_checker=False
        )
