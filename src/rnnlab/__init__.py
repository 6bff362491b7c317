"""rnnlab: recurrent neural networks from the equations to trained models."""

__version__ = "0.1.0"
