"""Command-line interfaces ``qdimd`` and ``inpaint`` (installed as ``qdimd_cli``).

Only click commands live here; each calls one library function.
"""
