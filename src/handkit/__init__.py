"""handkit: 3D hand pose and mesh estimation from a single RGB image."""

__version__ = "0.1.0"
