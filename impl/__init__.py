"""Hand-written NumPy gradient formulas: the implementation the suite verifies.

For an op ``f``: ``f(*inputs, **params)`` is the forward, ``f_backward(grad_out, *inputs,
**params)`` the VJP (one gradient, or a tuple for several differentiable inputs),
``f_jacobian(*inputs, **params)`` the full Jacobian (shape ``out.shape + in.shape``),
``f_jvp(*inputs, tangent, **params)`` the forward mode, and for losses
``f_hessian(*inputs, **params)`` and ``f_hvp(v, *inputs, **params)``. A module with these names
and signatures can be verified in its place: ``pytest --impl my_grads.py``.
"""

from . import activations as _activations
from . import attention as _attention
from . import conv as _conv
from . import dense as _dense
from . import losses as _losses
from . import mlp as _mlp
from . import norm as _norm
from . import recurrent as _recurrent
from . import softmax as _softmax
from .activations import *  # noqa: F403
from .attention import *  # noqa: F403
from .conv import *  # noqa: F403
from .dense import *  # noqa: F403
from .losses import *  # noqa: F403
from .mlp import *  # noqa: F403
from .norm import *  # noqa: F403
from .recurrent import *  # noqa: F403
from .softmax import *  # noqa: F403

__all__ = [*_activations.__all__, *_softmax.__all__, *_losses.__all__, *_dense.__all__,
           *_mlp.__all__, *_norm.__all__, *_conv.__all__, *_recurrent.__all__,
           *_attention.__all__]
