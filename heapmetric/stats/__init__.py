"""Pure statistics on arrays: correlation, bootstrap, significance, Bradley–Terry, win rates.

Nothing here reads files or draws plots; random procedures take an explicit ``numpy.random.Generator``.
"""
