"""The neural ProCrop network (torch): backbone, transformer, fusion, heads, losses, inputs, checkpoints, ONNX."""
