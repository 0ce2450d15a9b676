# %% [markdown]
# # Checking your own gradients from a notebook
#
# `pip install .` (or `pip install "gradverify[all]"` with the frameworks), then in a
# notebook: write your formulas, hand them to `gradverify.check`, and read the report. Cells are
# marked `# %%` (VS Code, Jupytext, Spyder run them one by one); `python examples/notebook.py`
# runs them all.

# %%
import numpy as np

import gradverify
from gradverify.adapters import cache_pair

# %% [markdown]
# ## 1. Formulas the catalog knows: `gradverify.check`
# A dict `{name: function}` in impl's API, or a module, or a path to a `.py` file. Here a
# CS231n-style pair, exposed with an adapter, and a leaky ReLU whose slope is the mistake.

# %%
def tanh_forward(x):
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    return dout * (1 - cache**2)


def leaky_relu(z, negative_slope=0.01):
    return np.where(z > 0, z, negative_slope * z)


def leaky_relu_backward(g, z, negative_slope=0.01):
    return np.where(z > 0, g, 0.01 * g)  # the mistake: the default slope, always


tanh, tanh_backward_ = cache_pair(tanh_forward, tanh_backward)
report = gradverify.check({"tanh": tanh, "tanh_backward": tanh_backward_,
                           "leaky_relu": leaky_relu, "leaky_relu_backward": leaky_relu_backward})
report  # noqa: B018  (in Jupyter: the op × reference matrix, one verdict per function)

# %%
print(report)
print(report.failures[0].diagnosis)  # why, in full: which element, which references agree


# %% [markdown]
# ## 2. A function the catalog does not have: `gradverify.gradcheck`
# Against finite differences (float64, kinks left out), and against a framework's version of
# the forward if you pass one (`torch=`, `jax=`, `autograd=`).

# %%
def swish(x, beta=1.0):
    return x / (1 + np.exp(-beta * x))


def swish_backward(g, x, beta=1.0):
    s = 1 / (1 + np.exp(-beta * x))
    return g * (s + beta * x * s * (1 - s))


def swish_torch(x, beta=1.0):
    import torch

    return x * torch.sigmoid(beta * x)


x = np.random.default_rng(0).standard_normal((3, 4))
print(gradverify.gradcheck(swish, swish_backward, x, beta=2.0, torch=swish_torch))

# %% [markdown]
# ## 3. A file of your own
# The same as `python -m gradverify examples/shapes/cs231n_layers.py` in a terminal.

# %%
print(gradverify.check("examples/shapes/cs231n_layers.py", references=["torch", "numeric"]))
