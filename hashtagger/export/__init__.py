"""export: a model as one ONNX graph or OpenVINO IR, to run without PyTorch."""
