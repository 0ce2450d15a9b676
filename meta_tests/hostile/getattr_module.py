"""A module-level __getattr__: tanh's functions come from it (returning None), looking up
sigmoid_backward raises; relu is right."""

from gradverify.impl import relu, relu_backward, sigmoid  # noqa: F401


def __getattr__(name):
    if name in ("tanh", "tanh_backward"):
        return lambda *args, **kwargs: None
    if name == "sigmoid_backward":
        raise RuntimeError("no sigmoid_backward today")
    raise AttributeError(name)
