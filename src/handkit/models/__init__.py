"""handkit.models"""
