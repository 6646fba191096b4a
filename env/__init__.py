"""Gymnasium environments joining the simulator and the recognizer."""

try:  # registration needs only gymnasium (no torch, no stable-baselines3)
    import gymnasium as _gym
except ImportError:  # the simulator and ``vclass run`` work without gymnasium
    _gym = None

if _gym is not None:
    for _id, _entry in (("vclass/Motivation-v0", "env.motivation:MotivationEnv"),
                        ("vclass/Attention-v0", "env.attention:AttentionEnv")):
        if _id not in _gym.registry:
            _gym.register(id=_id, entry_point=_entry, disable_env_checker=False)
