"""handkit.geometry"""
