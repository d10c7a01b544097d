"""The Keras 3 frontend: a Sequential or Functional model → :class:`stridescope.ir.Graph`,
read from layer configs without running the model (see :func:`read_keras`).

- :mod:`.model`: :func:`read_keras`, which walks the model's layers and connections;
- :mod:`.layer_table`: the one table, Keras layer class → handler;
- :mod:`.handlers` and :mod:`.shape_handlers`: the handlers;
- :mod:`.operations`: raw ``keras.ops`` calls in a Functional graph, and uncounted nodes;
- :mod:`.expand`: custom layers read through the operations their ``call`` records;
- :mod:`.cells`: ``RNN`` of a custom cell, one step read as a custom layer;
- :mod:`.subclassed`: subclassed models, read as the Functional model their ``call`` records;
- :mod:`.weights`: which weights an operation uses, each counted once in a read;
- :mod:`.shapes`: output shapes Keras computes (shape function, output spec, the graph).

Importing this package does not import Keras; reading a model does.
"""

from stridescope.frontends.keras.model import read_keras

__all__ = ["read_keras"]
