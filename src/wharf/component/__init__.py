"""Loading a user's class and calling its methods the way Seldon's Python wrapper does.

No transport here: servers hand in decoded messages and get response messages back.
"""
