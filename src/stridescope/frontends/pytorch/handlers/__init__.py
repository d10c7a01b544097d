"""The PyTorch tracer's handlers, one module per family of ops.

A handler turns one torch call (function, method, operator or leaf module) into IR nodes; the
tables that map torch callables and module types to handlers are
:mod:`stridescope.frontends.pytorch.function_table` and
:mod:`stridescope.frontends.pytorch.module_table`.
"""
