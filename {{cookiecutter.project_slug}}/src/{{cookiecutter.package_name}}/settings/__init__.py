"""The groups of settings that ``config.Settings`` is made of, one module a concern.

Each group is a plain pydantic model (a mixin): ``config.Settings`` inherits them
all and reads them from the environment and ``.env`` with one prefix and one set
of rules, so the variables' names and the ``Settings`` API are those of one class.
"""
