"""Runs an ONNX file in runtimes independent of mtfl-lua, for export-onnx.lua --compare
(and so tests/lua/test_onnx.lua): ONNX's own checker, when Debian's python3-onnx is
there (the format and operator specification, with strict shape inference), and
OpenCV's dnn module (Debian's python3-opencv) on given input values.

    python3 onnx_check.py MODEL.onnx INPUT.f32 N,C,H,W OUT_DIR NAME...

INPUT.f32 holds the input's float32 values (little-endian, row-major); each output NAME
is written to OUT_DIR/NAME.f32 the same way. It prints "onnx checker VERSION: valid"
(or why the checker did not run), "opencv VERSION", then "NAME d1,d2,..." per output.
"""
import sys


def main(argv):
    if len(argv) < 6:
        sys.exit(__doc__)
    model, input_file, dims, out_dir = argv[1:5]
    names = argv[5:]
    try:
        import cv2
        import numpy as np
    except ImportError as e:
        sys.exit(f"onnx_check.py: {e}: OpenCV for Python is needed (Debian: apt-get install python3-opencv)")

    try:
        import onnx
    except ImportError:
        print("onnx checker: not run (Debian's python3-onnx is not installed)")
    else:
        onnx.checker.check_model(onnx.load(model), full_check=True)   # raises on anything invalid
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
