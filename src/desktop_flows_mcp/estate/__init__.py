"""summarize_desktop_flow_runs: how the estate is doing, from counts Dataverse computes.

window.py    since / until (ISO times or durations such as 7d, 24h; at most 90 days), checked before any request
results.py   the summary's models: totals, one row per group, failures ranked with their meaning and fix
tally.py     counts and samples folded into groups, percentiles, failures and licences (pure)
service.py   the requests, the 50,000-row narrowing, the lookups of names, capacity and health
"""
