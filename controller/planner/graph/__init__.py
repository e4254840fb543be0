"""The planner graph (LangGraph) and what drives it.

Nodes, routes, state, the runner over the checkpointer and the per-incident driver.
"""
