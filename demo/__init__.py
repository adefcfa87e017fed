"""The demo side of the build: the real trained cat/dog model, its photos, and the seed trainer.

Build-time only: nothing here is packaged into the function.
"""
