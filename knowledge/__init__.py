"""Knowledge the SQL writers use besides the schema (issue 13).

A glossary of business terms, question→SQL examples and per-datasource instructions. Models and retrieval
live here; storage in :mod:`knowledge.store`.
"""
