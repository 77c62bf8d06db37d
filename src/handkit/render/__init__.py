"""handkit.render"""
