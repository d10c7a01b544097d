"""The PyTorch frontend: any ``nn.Module`` → :class:`stridescope.ir.Graph`, without running
kernels (see :func:`trace_torch` and ``docs/pytorch-frontend.md``).

The modules, by role:

- :mod:`.trace`: :func:`trace_torch`, the entry point, and the routing of module calls;
- :mod:`.proxy`: :class:`ShapeProxy`, the shape-only tensor stand-in;
- :mod:`.tracer`: :class:`Tracer`, which dispatches each call to a handler or a meta run;
- :mod:`.function_table` and :mod:`.module_table`: the two tables, torch function → handler
  and ``nn.Module`` forward → handler (:mod:`.per_function`: the function rows whose handler
  is made per function);
- :mod:`.handlers`: the handlers, one module per family;
- :mod:`.errors`, :mod:`.handler_specs`, :mod:`.thread_state`: the exceptions, what the tables
  hold, and which tracer this thread reports to.

Importing this package imports torch.
"""

from stridescope.frontends.pytorch.trace import trace_torch

__all__ = ["trace_torch"]
