"""Library version, importable without numpy so ``import analysis`` stays cheap."""

LIBRARY_VERSION = "0.2.0"
