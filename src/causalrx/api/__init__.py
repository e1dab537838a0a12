"""Serving: model bundles (core install) and the FastAPI service (``pip install causalrx[serve]``)."""

from causalrx.api.bundle import ModelBundle, export_bundle, load_bundle

__all__ = ["ModelBundle", "export_bundle", "load_bundle"]
