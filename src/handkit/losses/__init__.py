"""handkit.losses"""
