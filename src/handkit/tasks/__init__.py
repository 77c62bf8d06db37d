"""handkit.tasks"""
