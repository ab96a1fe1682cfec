"""Training the neural ProCrop network: training samples and the training loop."""
