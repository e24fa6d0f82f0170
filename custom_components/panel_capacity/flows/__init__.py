"""The config flows, one module a branch.

panel: the panel and its meter (user, reconfigure, reauth); options: tuning,
load priority and the grid; load: the load subentries. schemas holds the
form fields they share and checks what they ask of Home Assistant; the rules
on the numbers themselves are the engine's (engine/rules.py).
"""
