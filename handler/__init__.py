"""The function: a frozen TensorFlow graph served through FastAPI + Mangum on AWS Lambda."""

__version__ = "0.1.0"
