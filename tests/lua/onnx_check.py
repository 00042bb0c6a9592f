"""Checks an ONNX file with tools independent of mtfl-lua: ONNX's own checker (the
format and operator specification, with strict shape inference) and OpenCV's dnn
module, a runtime, on given input values.

    python3 onnx_check.py MODEL.onnx INPUT.f32 N,C,H,W OUT_DIR NAME...

INPUT.f32 holds the input's float32 values (little-endian, row-major); each output NAME
is written to OUT_DIR/NAME.f32 the same way, and a line "NAME d1,d2,..." gives its
shape, after the lines "onnx checker VERSION: valid" and "opencv VERSION".
test_onnx.lua compares the outputs with the predictor's.
"""
import sys

import cv2
import numpy as np
import onnx


def main(argv):
    if len(argv) < 6:
        sys.exit(__doc__)
    model, input_file, dims, out_dir = argv[1:5]
    names = argv[5:]

    proto = onnx.load(model)
    onnx.checker.check_model(proto, full_check=True)   # raises on anything invalid
    print("onnx checker", onnx.__version__ + ": valid")

    shape = [int(d) for d in dims.split(",")]
    images = np.fromfile(input_file, dtype="<f4").reshape(shape)
    print("opencv", cv2.__version__)
    net = cv2.dnn.readNetFromONNX(model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.setInput(images)
    outputs = net.forward(names)
    for name, value in zip(names, outputs):
        value = np.ascontiguousarray(value, dtype="<f4")
        value.tofile(f"{out_dir}/{name}.f32")
        print(name, ",".join(str(d) for d in value.shape))


if __name__ == "__main__":
    main(sys.argv)
