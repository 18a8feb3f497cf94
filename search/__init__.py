"""fmnist-search: orchestration of hyperparameter searches over Keras models on Fashion-MNIST."""

__version__ = "0.1.0"
