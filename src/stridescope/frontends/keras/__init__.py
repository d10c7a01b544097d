"""The Keras 3 frontend: a Sequential or Functional model → :class:`stridescope.ir.Graph`,
read from layer configs without running the model (see :func:`read_keras`).

- :mod:`.model`: :func:`read_keras`, which walks the model's layers and connections;
- :mod:`.layer_table`: the one table, Keras layer class → handler;
- :mod:`.handlers` and :mod:`.shape_handlers`: the handlers.

Importing this package does not import Keras; reading a model does.
"""

from stridescope.frontends.keras.model import read_keras

__all__ = ["read_keras"]
