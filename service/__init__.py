"""triage's intake-desk web service: a FastAPI API under /v1 and a page for clerks at /.

The web layer only: every classification goes through :meth:`triage.Predictor.classify_many`.
Start it with ``triage serve`` or ``uvicorn service.main:create_app --factory``.
"""
