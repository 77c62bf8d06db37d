"""handkit.data"""
