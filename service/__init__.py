"""The heapmetric HTTP scoring service: ``service.app.create_app`` (FastAPI), run by ``heapmetric serve``."""
